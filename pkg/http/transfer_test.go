package httpd

import (
	"context"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

func TestAckedBytes(t *testing.T) {
	for _, c := range []struct {
		name                          string
		prev, handed, inflight, total int64
		want                          int64
	}{
		{"nothing in flight", 0, 1000, 0, 5000, 1000},
		{"some in flight", 0, 1000, 300, 5000, 700},
		{"headers still queued", 0, 100, 400, 5000, 0},
		{"never below the last report", 800, 1000, 300, 5000, 800},
		{"grows past the last report", 500, 1000, 300, 5000, 700},
		{"capped at the total", 0, 6000, 0, 5000, 5000},
		{"cap beats the last report", 9000, 1000, 0, 5000, 5000},
		{"all acked", 4000, 5000, 0, 5000, 5000},
		{"no probe (others): handed", 0, 4096, 0, 5000, 4096},
	} {
		if got := ackedBytes(c.prev, c.handed, c.inflight, c.total); got != c.want {
			t.Errorf("%s: ackedBytes(%d, %d, %d, %d) = %d, want %d", c.name, c.prev, c.handed, c.inflight, c.total, got, c.want)
		}
	}
}

// fakeQueue plays back send-queue readings; after the last one it repeats it. A negative
// reading is a failed probe.
type fakeQueue struct {
	readings []int64
	calls    int
}

func (q *fakeQueue) unacked() (int64, bool) {
	n := q.readings[min(q.calls, len(q.readings)-1)]
	q.calls++
	return n, n >= 0
}

type nopFlusher struct{}

func (nopFlusher) Flush() error { return nil }

func newTestTransfer(ctx context.Context, total int64, q *fakeQueue) (*transfer, <-chan events.Event) {
	bus := events.NewBus()
	ch, _ := bus.Subscribe(256)
	t := &transfer{
		bus: bus, start: time.Now(), active: &int64Gauge{}, ctx: ctx,
		flush: nopFlusher{}, stall: 100 * time.Millisecond,
		ev: events.Event{ID: 1, Proto: "http", File: "f", Total: total},
	}
	t.lastPub = t.start
	if q != nil {
		t.probe = q
	}
	return t, ch
}

func lastEvent(t *testing.T, ch <-chan events.Event) (last events.Event, all []events.Event) {
	t.Helper()
	for {
		select {
		case e := <-ch:
			all = append(all, e)
			last = e
		default:
			if len(all) == 0 {
				t.Fatal("no event")
			}
			return last, all
		}
	}
}

// TestTransferProgress drives the accounting with a scripted send queue: progress is the
// acknowledged figure, rises monotonically, and the probe runs only when an event is due.
func TestTransferProgress(t *testing.T) {
	q := &fakeQueue{readings: []int64{300, 900, -1, 0}}
	x, ch := newTestTransfer(context.Background(), 10000, q)
	step := func(n int64) {
		x.lastPub = time.Now().Add(-progressEvery) // an event is due
		x.add(n)
	}
	x.add(100) // not due: no probe
	if q.calls != 0 {
		t.Fatalf("probe ran %d times for a write with no event due", q.calls)
	}
	step(900)  // handed 1000, 300 in flight → 700
	step(1000) // handed 2000, 900 in flight → 1100
	step(1000) // probe fails: keep 1100
	step(1000) // handed 4000, nothing in flight → 4000
	_, all := lastEvent(t, ch)
	var got []int64
	for _, e := range all {
		if e.Kind == events.TransferProgress {
			got = append(got, e.Bytes)
		}
	}
	want := []int64{700, 1100, 1100, 4000}
	if len(got) != len(want) {
		t.Fatalf("progress %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("progress %v, want %v", got, want)
		}
	}
	// The client resets the connection at 4000 of 10000 handed: the failed event carries
	// what it acknowledged.
	q.readings = []int64{1500}
	x.handed = 5500
	x.finish()
	e, _ := lastEvent(t, ch)
	if e.Kind != events.TransferFailed || e.Bytes != 4000 {
		t.Errorf("finish: %v %d bytes, want failed at 4000 (never below a report)", e.Kind, e.Bytes)
	}
}

// TestTransferDrain: a fully written body is reported done only once the queue drains; a
// queue that stops draining ends in a failed event after the stall time; a client that
// goes away ends the wait at once.
func TestTransferDrain(t *testing.T) {
	t.Run("drains", func(t *testing.T) {
		x, ch := newTestTransfer(context.Background(), 10000, &fakeQueue{readings: []int64{6000, 4000, 2500, 100, 0}})
		x.add(10000)
		x.finish()
		e, _ := lastEvent(t, ch)
		if e.Kind != events.TransferDone || e.Bytes != 10000 {
			t.Errorf("%v %d bytes, want done 10000", e.Kind, e.Bytes)
		}
	})
	t.Run("stalls", func(t *testing.T) {
		x, ch := newTestTransfer(context.Background(), 10000, &fakeQueue{readings: []int64{6000, 3000}})
		x.add(10000)
		start := time.Now()
		x.finish()
		if d := time.Since(start); d < x.stall || d > x.stall+2*time.Second {
			t.Errorf("drain of a stalled queue took %v (stall %v)", d, x.stall)
		}
		e, _ := lastEvent(t, ch)
		if e.Kind != events.TransferFailed || e.Bytes != 7000 {
			t.Errorf("%v %d bytes, want failed at 7000", e.Kind, e.Bytes)
		}
	})
	t.Run("client gone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		x, ch := newTestTransfer(ctx, 10000, &fakeQueue{readings: []int64{2000}})
		x.stall = time.Hour
		x.add(10000)
		x.finish()
		e, _ := lastEvent(t, ch)
		if e.Kind != events.TransferFailed || e.Bytes != 8000 {
			t.Errorf("%v %d bytes, want failed at 8000", e.Kind, e.Bytes)
		}
	})
	t.Run("no probe", func(t *testing.T) {
		x, ch := newTestTransfer(context.Background(), 10000, nil)
		x.add(10000)
		x.finish()
		e, _ := lastEvent(t, ch)
		if e.Kind != events.TransferDone || e.Bytes != 10000 {
			t.Errorf("%v %d bytes, want done 10000 (handed, as before)", e.Kind, e.Bytes)
		}
	})
}

// TestAckWait: the drain's wait is the time the unacknowledged rest takes at the rate the
// client acknowledged so far, kept within the poll bounds, and 0 without a rate.
func TestAckWait(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, c := range []struct {
		name          string
		handed, acked int64
		elapsed, want time.Duration
	}{
		{"nothing acknowledged", 4 << 20, 0, time.Millisecond, 0},
		{"no time yet", 4 << 20, 1 << 20, 0, 0},
		{"half acknowledged in 2 ms", 4 << 20, 2 << 20, 2 * time.Millisecond, 2 * time.Millisecond},
		{"a quarter in 3 ms", 4 << 20, 1 << 20, 3 * time.Millisecond, 9 * time.Millisecond},
		{"almost all: the shortest poll", 4 << 20, 4<<20 - 1, time.Millisecond, drainPollMin},
		{"a slow client: the longest poll", 4 << 20, 64 << 10, time.Second, drainPollMax},
	} {
		x := &transfer{start: start, handed: c.handed, acked: c.acked}
		if got := x.ackWait(start.Add(c.elapsed)); got != c.want {
			t.Errorf("%s: ackWait = %v, want %v", c.name, got, c.want)
		}
	}
}

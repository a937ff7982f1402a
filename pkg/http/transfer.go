package httpd

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// progressEvery rate-limits TransferProgress events per download (DESIGN: at most every
// 250 ms).
const progressEvery = 250 * time.Millisecond

// While the tail of a fully written response drains, the send queue is polled from
// drainPollMin, doubling up to drainPollMax: a client on the LAN acks the last segments
// within a millisecond or two, a slow one takes as long as the queue holds.
const (
	drainPollMin = 100 * time.Microsecond
	drainPollMax = 25 * time.Millisecond
)

// transfer publishes the events of one HTTP download. A nil *transfer does nothing, so the
// writer needs no checks for small files and HEAD requests.
//
// Progress is what the client acknowledged, not what the server handed to the kernel:
// socket buffers hold megabytes, so the handed-over count runs seconds ahead of a slow client
// and claims bytes an aborted client never got. Where the socket can be asked (Linux:
// sendq_linux.go), acked = handed − unacknowledged send queue, read only when an event is
// due, never per write. Elsewhere acked = handed.
type transfer struct {
	bus     *events.Bus
	ev      events.Event // template: ID, Proto, Client, MAC, File, Total
	start   time.Time
	handed  int64 // body bytes given to the kernel
	acked   int64 // body bytes the client acknowledged: never decreases, never above Total
	lastPub time.Time
	active  *int64Gauge

	probe unackedProber   // nil where the socket cannot be asked
	ctx   context.Context // the request's: ends when the client goes away
	flush flusher         // pushes buffered response bytes to the kernel
	stall time.Duration   // longest the drain may see no acknowledgement
}

// unackedProber returns a connection's unacknowledged send-queue bytes; ok false when the
// socket cannot be asked any more (closed): callers keep their last figure.
type unackedProber interface {
	unacked() (n int64, ok bool)
}

// flusher is *http.ResponseController's Flush.
type flusher interface{ Flush() error }

func (s *Server) startTransfer(w *respWriter, r *http.Request, file string, total int64) *transfer {
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	t := &transfer{
		bus:    s.cfg.Events,
		start:  time.Now(),
		active: &s.met.transfersActive,
		ctx:    r.Context(),
		flush:  w.rc,
		stall:  s.cfg.WriteStallTimeout,
		ev: events.Event{
			ID: s.cfg.Events.NextID(), Proto: "http", Client: client, File: file, Total: total,
			MAC: s.macOf(client.Addr()),
		},
	}
	t.probe = sockOf(r).sendQueue()
	t.lastPub = t.start
	t.active.add(1)
	e := t.ev
	e.Kind, e.Time = events.TransferStarted, t.start
	t.bus.Publish(e)
	return t
}

// ackedBytes is the progress to report: handed minus what is still in flight, never below
// the last report (a probe racing the queue must not move the bar back) and never above the
// total (the send queue may also hold the response headers or nothing of ours at all).
func ackedBytes(prev, handed, inflight, total int64) int64 {
	return min(max(handed-inflight, prev, 0), total)
}

// measure refreshes t.acked; false when the socket could not be asked (t.acked unchanged).
func (t *transfer) measure() bool {
	var inflight int64
	if t.probe != nil {
		n, ok := t.probe.unacked()
		if !ok {
			return false
		}
		inflight = n
	}
	t.acked = ackedBytes(t.acked, t.handed, inflight, t.ev.Total)
	return true
}

func (t *transfer) add(n int64) {
	if t == nil || n <= 0 {
		return
	}
	t.handed += n
	now := time.Now()
	if now.Sub(t.lastPub) < progressEvery || t.handed >= t.ev.Total {
		return
	}
	t.progress(now)
}

// progress measures and publishes a TransferProgress.
func (t *transfer) progress(now time.Time) {
	t.measure()
	t.publish(now)
}

// publish sends a TransferProgress with the last measured t.acked.
func (t *transfer) publish(now time.Time) {
	t.lastPub = now
	e := t.ev
	e.Kind, e.Time, e.Bytes, e.Duration = events.TransferProgress, now, t.acked, now.Sub(t.start)
	t.bus.Publish(e)
}

// finish publishes TransferDone when the client acknowledged every byte, else
// TransferFailed with the bytes it did acknowledge (it went away or stalled).
//
// "Done" means acknowledged: when the whole body is in the kernel the handler waits for the
// send queue to drain before it reports, publishing progress meanwhile, so the bar reaches
// 100 % when the client has the file, not when the server finished writing. The wait ends
// when the queue is empty, when the client closes or resets the connection, or after
// WriteStallTimeout without any acknowledgement (the same patience a blocked write gets).
// It holds no more than the connection the client is still reading from; a keep-alive
// client's next request waits at most one poll (≤ drainPollMax) past its last ack.
func (t *transfer) finish() {
	if t == nil {
		return
	}
	if t.handed >= t.ev.Total {
		t.drain()
	} else {
		t.measure()
	}
	t.active.add(-1) // after the drain: the client is still receiving until then
	now := time.Now()
	e := t.ev
	e.Time, e.Bytes, e.Duration = now, t.acked, now.Sub(t.start)
	switch {
	case t.acked >= t.ev.Total:
		e.Kind = events.TransferDone
	case t.handed >= t.ev.Total:
		e.Kind, e.Err = events.TransferFailed, "client did not acknowledge the end of the response"
	default:
		e.Kind, e.Err = events.TransferFailed, "client closed the connection early"
	}
	t.bus.Publish(e)
}

// drain waits (bounded, see finish) until the client acknowledged the whole body.
func (t *transfer) drain() {
	if t.probe == nil || t.bus == nil {
		t.measure() // no way to ask, or nobody listening: handed is all we report
		return
	}
	// A body not sent by sendfile may still sit in net/http's buffers; the kernel must
	// have it before its acknowledgement can be awaited.
	_ = t.flush.Flush()
	var wait time.Duration
	var timer *time.Timer
	lastMove := time.Now()
	for {
		prev := t.acked
		if !t.measure() || t.acked >= t.ev.Total {
			return
		}
		now := time.Now()
		if t.acked > prev {
			lastMove = now
		} else if now.Sub(lastMove) >= t.stall {
			return
		}
		if now.Sub(t.lastPub) >= progressEvery {
			t.publish(now) // measured just above
		}
		if est := t.ackWait(now); est > 0 {
			wait = est
		} else {
			wait = min(max(2*wait, drainPollMin), drainPollMax)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			// The client closed (FIN after its last ack, or RST): one last look.
			t.measure()
			return
		}
	}
}

// ackWait is how long the client should take to acknowledge what it has not yet, at the
// rate it acknowledged the body so far, within [drainPollMin, drainPollMax]: on a fast LAN one
// wake-up then finds the queue empty, where polls from drainPollMin up cost a scheduler
// round trip each (docs/bench/http.md). 0 when nothing was acknowledged yet (no rate): the
// caller's polls then back off from drainPollMin.
func (t *transfer) ackWait(now time.Time) time.Duration {
	elapsed := now.Sub(t.start)
	if t.acked <= 0 || elapsed <= 0 {
		return 0
	}
	left := float64(t.handed - t.acked)
	d := time.Duration(left / float64(t.acked) * float64(elapsed))
	return min(max(d, drainPollMin), drainPollMax)
}

// macOf asks the daemon which MAC owns ip, for events and the dashboard.
func (s *Server) macOf(ip netip.Addr) string {
	if s.cfg.Clients == nil {
		return ""
	}
	if ci, ok := s.cfg.Clients.Client(ip); ok {
		return ci.MAC
	}
	return ""
}

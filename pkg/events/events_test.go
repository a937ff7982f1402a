package events

import (
	"testing"
	"time"
)

func TestPublishSubscribe(t *testing.T) {
	b := NewBus()
	ch, cancel := b.Subscribe(2)
	b.Publish(Event{Kind: TransferStarted, File: "a"})
	b.Publish(Event{Kind: TransferDone, File: "a"})
	b.Publish(Event{Kind: TransferDone, File: "b"}) // buffer full: dropped, not blocked
	if got := b.Dropped(); got != 1 {
		t.Fatalf("Dropped() = %d, want 1", got)
	}
	e := <-ch
	if e.Kind != TransferStarted || e.Time.IsZero() {
		t.Fatalf("first event = %+v", e)
	}
	if e := <-ch; e.Kind != TransferDone {
		t.Fatalf("second event = %+v", e)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
	b.Publish(Event{Kind: TransferDone}) // no subscribers: no panic on the closed channel
}

func TestNilBus(t *testing.T) {
	var b *Bus
	b.Publish(Event{Kind: DHCP})
	first := b.NextID()
	if first == b.NextID() {
		t.Fatal("nil bus handed out the same id twice")
	}
	if b.Dropped() != 0 {
		t.Fatal("nil bus counts drops")
	}
}

func TestKindText(t *testing.T) {
	for k, want := range map[Kind]string{TransferProgress: "transfer-progress", ModeChanged: "mode", Kind(200): "unknown"} {
		if got, _ := k.MarshalText(); string(got) != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	bus := NewBus()
	ch, cancel := bus.Subscribe(1024)
	defer cancel()
	go func() {
		for range ch {
		}
	}()
	e := Event{Kind: TransferProgress, Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
}

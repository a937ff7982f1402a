package tftp

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func queued(client string, file string) *waiting {
	return &waiting{key: activeKey{netip.MustParseAddrPort(client), file}, ctx: context.Background(), wg: new(sync.WaitGroup)}
}

// TestWaitQueue: one entry per transfer id and file, a client address's share, expiry
// (pruned from a full queue at most once per prunePeriod), first come first served among
// the clients that may start.
func TestWaitQueue(t *testing.T) {
	var q waitQueue
	q.init(8) // share per address: 2
	now := time.Unix(1000, 0)
	var dropped []*waiting
	drop := func(w *waiting) { dropped = append(dropped, w) }
	a1, a2, a3 := queued("10.0.0.1:1000", "f"), queued("10.0.0.1:1001", "f"), queued("10.0.0.1:1002", "f")
	b1 := queued("10.0.0.2:1000", "f")
	if !q.push(a1, now, time.Minute, drop) || !q.push(a2, now, time.Minute, drop) {
		t.Fatal("push refused below the address's share")
	}
	if q.push(a3, now, time.Minute, drop) {
		t.Fatal("a third entry from one address exceeds its share of 2")
	}
	if !q.push(b1, now.Add(time.Second), 2*time.Minute, drop) {
		t.Fatal("another address refused")
	}
	if !q.refresh(a1.key, now.Add(30*time.Second)) || q.refresh(a3.key, now) {
		t.Fatal("refresh finds queued entries only")
	}
	// a2 expires at now+60s, a1 (refreshed) at now+90s.
	later := now.Add(70 * time.Second)
	if !q.push(a3, later, time.Minute, drop) {
		t.Fatal("the expired entry was not pruned to make room")
	}
	if len(dropped) != 1 || dropped[0] != a2 {
		t.Fatalf("dropped %v, want a2", dropped)
	}
	// Within prunePeriod of the last pass a full share is not scanned again.
	a4 := queued("10.0.0.1:1003", "f")
	if q.push(a4, later.Add(time.Millisecond), time.Minute, drop) {
		t.Fatal("pushed past a full share")
	}
	// next: the first entry whose address may start; b1 when 10.0.0.1 is at its cap.
	only := func(a string) func(netip.Addr) bool {
		return func(x netip.Addr) bool { return x == netip.MustParseAddr(a) }
	}
	if w := q.next(later, false, only("10.0.0.2"), drop); w != b1 {
		t.Fatalf("next = %v, want b1", w)
	}
	if w := q.next(later, false, only("10.0.0.1"), drop); w != a1 {
		t.Fatalf("next = %v, want a1 (first come)", w)
	}
	if w := q.next(later, true, only("10.0.0.1"), drop); w != nil || q.len() != 0 {
		t.Fatalf("closing: next = %v, %d left", w, q.len())
	}
}

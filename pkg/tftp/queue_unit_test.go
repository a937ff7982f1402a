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
	none := func(netip.Addr) bool { return false }
	if w := q.next(later, false, only("10.0.0.2"), none, drop); w != b1 {
		t.Fatalf("next = %v, want b1", w)
	}
	if w := q.next(later, false, only("10.0.0.1"), none, drop); w != a1 {
		t.Fatalf("next = %v, want a1 (first come)", w)
	}
	if w := q.next(later, true, only("10.0.0.1"), none, drop); w != nil || q.len() != 0 {
		t.Fatalf("closing: next = %v, %d left", w, q.len())
	}
}

// A suspect address's request (its last transfer went unanswered) waits behind every other
// that may start, however early it came, and starts when nothing else can.
func TestWaitQueueSuspectLast(t *testing.T) {
	var q waitQueue
	q.init(8)
	now := time.Unix(1000, 0)
	drop := func(*waiting) {}
	s1, s2 := queued("10.0.0.9:1", "f"), queued("10.0.0.8:1", "f")
	real := queued("10.0.0.1:1", "f")
	for _, w := range []*waiting{s1, s2, real} {
		if !q.push(w, now, time.Minute, drop) {
			t.Fatal("push refused")
		}
	}
	all := func(netip.Addr) bool { return true }
	suspect := func(a netip.Addr) bool { return a != netip.MustParseAddr("10.0.0.1") }
	if w := q.next(now, false, all, suspect, drop); w != real {
		t.Fatalf("next = %v, want the real client's request", w)
	}
	if w := q.next(now, false, all, suspect, drop); w != s1 {
		t.Fatalf("next = %v, want the first suspect once nobody else waits", w)
	}
}

// silentSet forgets an address that answers, expires entries, and never grows past max.
func TestSilentSet(t *testing.T) {
	var s silentSet
	s.init(2)
	now := time.Unix(1000, 0)
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	s.note(a, false, now)
	s.note(b, false, now)
	s.note(c, false, now) // full, nothing expired: not remembered
	if !s.has(a, now) || !s.has(b, now) || s.has(c, now) {
		t.Fatalf("has: %v %v %v", s.has(a, now), s.has(b, now), s.has(c, now))
	}
	s.note(a, true, now)
	if s.has(a, now) {
		t.Fatal("an address that answered is still suspect")
	}
	later := now.Add(silentFor)
	if s.has(b, later) {
		t.Fatal("a suspect never expires")
	}
	s.note(c, false, later) // b's entry has expired and makes room
	if !s.has(c, later) || len(s.since) > 2 {
		t.Fatalf("after expiry: has c %v, %d entries", s.has(c, later), len(s.since))
	}
}

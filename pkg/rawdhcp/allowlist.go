package rawdhcp

import (
	"sync"
	"time"
)

// AllowList is a bounded set of MACs whose entries expire: the clients the router
// advertisement responder may answer. It holds at most its capacity; when full, the MAC
// added longest ago goes first, so a flood of new MACs costs memory once and O(1) per
// packet. It is safe for concurrent use.
type AllowList struct {
	mu  sync.Mutex
	t   macTable[time.Time] // value: when this client was last sent an advertisement
	ttl time.Duration
}

// NewAllowList returns an AllowList for up to capacity MACs, each allowed for ttl after it
// was last added. capacity < 1 means 1.
func NewAllowList(capacity int, ttl time.Duration) *AllowList {
	return &AllowList{t: newMACTable[time.Time](capacity), ttl: ttl}
}

// Add allows mac until now+ttl (again, when it was already allowed).
func (l *AllowList) Add(mac MAC, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, _ := l.t.get(mac, now)
	l.t.put(mac, last, now.Add(l.ttl))
}

// Contains reports whether mac is allowed at now.
func (l *AllowList) Contains(mac MAC, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.t.get(mac, now)
	return ok
}

// Remove forgets mac.
func (l *AllowList) Remove(mac MAC) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.del(mac)
}

// Len returns how many MACs are held (expired ones may still count until looked up or
// pushed out).
func (l *AllowList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.t.m)
}

// take reports whether mac is allowed at now and no advertisement went to it within gap
// before now; when both hold it records now as the last advertisement. The responder uses
// it so that a client repeating its solicitations gets at most one answer per gap.
func (l *AllowList) take(mac MAC, now time.Time, gap time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, ok := l.t.get(mac, now)
	if !ok || (!last.IsZero() && now.Sub(last) < gap) {
		return false
	}
	l.t.set(mac, now)
	return true
}

// macTable is a bounded map from MAC to V whose entries expire. Inserts go into a ring in
// arrival order; when the ring is full the oldest insert is pushed out. Every operation is
// O(1). It is not safe for concurrent use.
type macTable[V any] struct {
	m    map[MAC]macEntry[V]
	ring []MAC
	next int // the ring slot reused by the next insert once the ring is full
}

type macEntry[V any] struct {
	v    V
	exp  time.Time
	slot int
}

func newMACTable[V any](capacity int) macTable[V] {
	capacity = max(capacity, 1)
	return macTable[V]{m: make(map[MAC]macEntry[V], capacity), ring: make([]MAC, 0, capacity)}
}

// get returns mac's value if it is held and not expired at now; an expired entry is
// dropped.
func (t *macTable[V]) get(mac MAC, now time.Time) (V, bool) {
	e, ok := t.m[mac]
	if !ok {
		var zero V
		return zero, false
	}
	if !now.Before(e.exp) {
		delete(t.m, mac)
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v for mac until exp. A MAC already held keeps its ring slot.
func (t *macTable[V]) put(mac MAC, v V, exp time.Time) {
	if e, ok := t.m[mac]; ok {
		e.v, e.exp = v, exp
		t.m[mac] = e
		return
	}
	slot := len(t.ring)
	if slot < cap(t.ring) {
		t.ring = append(t.ring, mac)
	} else {
		slot = t.next
		// The slot's MAC may have been dropped or re-inserted elsewhere since; only the
		// entry that still owns the slot goes.
		if old, ok := t.m[t.ring[slot]]; ok && old.slot == slot {
			delete(t.m, t.ring[slot])
		}
		t.ring[slot] = mac
		t.next = (t.next + 1) % cap(t.ring)
	}
	t.m[mac] = macEntry[V]{v: v, exp: exp, slot: slot}
}

// set changes the value of a held mac and keeps its expiry; it does nothing otherwise.
func (t *macTable[V]) set(mac MAC, v V) {
	if e, ok := t.m[mac]; ok {
		e.v = v
		t.m[mac] = e
	}
}

// del drops mac; its ring slot is reused in turn.
func (t *macTable[V]) del(mac MAC) { delete(t.m, mac) }

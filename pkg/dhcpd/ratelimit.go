package dhcpd

import (
	"sync"
	"time"
)

// rateLimiter is a per-MAC token bucket: one client (or one MAC of a flood) cannot make
// the server spend more than rate messages per second on it. Every call costs O(1).
//
// Buckets live in two bounded tables, each evicting its least recently used entry: one for
// clients the server knows (a lease or a reservation) and one for everyone else. A flood of
// fresh MACs churns only the second table, so it can neither push a known client's bucket
// out nor make known clients share anything with it; and every newcomer gets a bucket of
// its own, so a new legitimate client is limited by its own rate, not by the flood's.
type rateLimiter struct {
	rate, burst float64 // tokens per second (<= 0 disables the limit), bucket size

	mu             sync.Mutex
	known, unknown lruBuckets
}

// Table sizes: unknown bounds what a flood can make the limiter hold; known is sized for
// the largest pool (a /16) so lease holders are never evicted by each other in practice.
const (
	rateUnknownMax = 4096
	rateKnownMax   = 1 << 16
)

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{
		rate: rate, burst: float64(burst),
		known:   newLRUBuckets(rateKnownMax),
		unknown: newLRUBuckets(rateUnknownMax),
	}
}

// allow spends one token of mac's bucket at now and reports whether there was one. known
// says whether the client holds a lease or a reservation.
func (r *rateLimiter) allow(mac [6]byte, known bool, now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	tab := &r.unknown
	if known {
		tab = &r.known
	}
	b, fresh := tab.get(mac)
	if fresh && known {
		// A client that just got its lease keeps the bucket it had as a stranger, so
		// becoming known never refills a spender.
		if ob, ok := r.unknown.peek(mac); ok {
			*b = *ob
		} else {
			b.tokens, b.last = r.burst, t
		}
	} else if fresh {
		b.tokens, b.last = r.burst, t
	}
	if el := float64(t-b.last) / float64(time.Second); el > 0 {
		b.tokens += el * r.rate
		if b.tokens > r.burst {
			b.tokens = r.burst
		}
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// bucket is one client's tokens at time last (Unix nanoseconds).
type bucket struct {
	tokens float64
	last   int64
}

// lruBuckets is a bounded map from MAC to bucket that evicts the least recently used entry
// when full: an index into a slice of entries chained in recency order.
type lruBuckets struct {
	max        int
	idx        map[[6]byte]int32
	ent        []lruEntry
	head, tail int32 // most and least recently used; -1 when empty
}

type lruEntry struct {
	mac        [6]byte
	b          bucket
	prev, next int32
}

func newLRUBuckets(max int) lruBuckets {
	return lruBuckets{max: max, idx: make(map[[6]byte]int32), head: -1, tail: -1}
}

// get returns mac's bucket, made most recently used; fresh says it was just created
// (zeroed), evicting the least recently used entry if the table was full.
func (l *lruBuckets) get(mac [6]byte) (b *bucket, fresh bool) {
	if i, ok := l.idx[mac]; ok {
		l.unlink(i)
		l.pushFront(i)
		return &l.ent[i].b, false
	}
	var i int32
	if len(l.ent) < l.max {
		l.ent = append(l.ent, lruEntry{})
		i = int32(len(l.ent) - 1)
	} else {
		i = l.tail
		l.unlink(i)
		delete(l.idx, l.ent[i].mac)
	}
	l.ent[i] = lruEntry{mac: mac}
	l.idx[mac] = i
	l.pushFront(i)
	return &l.ent[i].b, true
}

// peek returns mac's bucket without changing its recency.
func (l *lruBuckets) peek(mac [6]byte) (*bucket, bool) {
	i, ok := l.idx[mac]
	if !ok {
		return nil, false
	}
	return &l.ent[i].b, true
}

func (l *lruBuckets) unlink(i int32) {
	e := &l.ent[i]
	if e.prev >= 0 {
		l.ent[e.prev].next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		l.ent[e.next].prev = e.prev
	} else {
		l.tail = e.prev
	}
}

func (l *lruBuckets) pushFront(i int32) {
	e := &l.ent[i]
	e.prev, e.next = -1, l.head
	if l.head >= 0 {
		l.ent[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// len is the number of buckets held.
func (l *lruBuckets) len() int { return len(l.idx) }

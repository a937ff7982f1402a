package tftp

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// waiting is a request with what its transfer needs, queued or running.
type waiting struct {
	key     activeKey
	req     *RequestPacket
	local   netip.Addr
	ifindex int
	ctx     context.Context // the receiving Serve's transfer context
	wg      *sync.WaitGroup // the receiving Serve's transfers
	expires time.Time       // while queued: dropped unless the client repeats it before
	life    time.Duration   // how far a repeat moves expires
}

// waitQueue holds the requests that wait for a transfer slot, first come first served,
// one entry per client transfer id and file. Its length is bounded and so is what one
// client address may hold, so that a flood from one machine cannot push out the others.
// The caller serialises every call (Server.mu). A request costs O(1) (a map look-up and an
// append); the passes over the queue happen when a transfer ends, and when the queue is
// full at most once per prunePeriod, so a flood of requests into a full queue stays O(1)
// per packet.
type waitQueue struct {
	max, perClientMax int
	lastPrune         time.Time
	items             []*waiting
	index             map[activeKey]*waiting
	perClient         map[netip.Addr]int
}

// prunePeriod spaces the passes that drop expired entries from a full queue.
const prunePeriod = time.Second

func (q *waitQueue) init(max int) {
	q.max = max
	q.perClientMax = (max + 3) / 4
	q.index = make(map[activeKey]*waiting)
	q.perClient = make(map[netip.Addr]int)
}

func (q *waitQueue) len() int { return len(q.items) }

// refresh extends the life of a queued request its client repeated; false when k is not
// queued.
func (q *waitQueue) refresh(k activeKey, now time.Time) bool {
	w, ok := q.index[k]
	if ok {
		w.expires = now.Add(w.life)
	}
	return ok
}

// push queues w, living ttl unless repeated; false when the queue or its client's share
// of it is full (expired entries are dropped first).
func (q *waitQueue) push(w *waiting, now time.Time, ttl time.Duration, drop func(*waiting)) bool {
	a := w.key.client.Addr()
	if (len(q.items) >= q.max || q.perClient[a] >= q.perClientMax) && now.Sub(q.lastPrune) >= prunePeriod {
		q.lastPrune = now
		q.dropIf(func(x *waiting) bool { return !now.Before(x.expires) }, drop)
	}
	if len(q.items) >= q.max || q.perClient[a] >= q.perClientMax {
		return false
	}
	w.life = ttl
	w.expires = now.Add(ttl)
	q.items = append(q.items, w)
	q.index[w.key] = w
	q.perClient[a]++
	return true
}

// next removes and returns the first request that may start (canStart of its client),
// dropping on the way those that expired, whose Serve ended, or all when closing. A request
// from a suspect address (one whose last transfer went unanswered) starts only when no
// other may: a neighbour spraying requests it never answers must not make the real clients
// wait out its every timeout.
func (q *waitQueue) next(now time.Time, closing bool, canStart, suspect func(netip.Addr) bool, drop func(*waiting)) *waiting {
	var found, fallback *waiting
	for _, w := range q.items {
		if closing || w.ctx.Err() != nil || !now.Before(w.expires) {
			continue
		}
		if a := w.key.client.Addr(); canStart(a) {
			if !suspect(a) {
				found = w
				break
			}
			if fallback == nil {
				fallback = w
			}
		}
	}
	if found == nil {
		found = fallback
	}
	q.dropIf(func(w *waiting) bool {
		return closing || w.ctx.Err() != nil || !now.Before(w.expires) || w == found
	}, func(w *waiting) {
		if w != found {
			drop(w)
		}
	})
	return found
}

// dropIf removes the entries for which match is true, in one pass, and hands each to
// removed.
func (q *waitQueue) dropIf(match func(*waiting) bool, removed func(*waiting)) {
	kept := q.items[:0]
	for _, w := range q.items {
		if !match(w) {
			kept = append(kept, w)
			continue
		}
		delete(q.index, w.key)
		a := w.key.client.Addr()
		if q.perClient[a]--; q.perClient[a] <= 0 {
			delete(q.perClient, a)
		}
		removed(w)
	}
	clear(q.items[len(kept):])
	q.items = kept
}

// dropAll empties the queue.
func (q *waitQueue) dropAll(removed func(*waiting)) {
	q.dropIf(func(*waiting) bool { return true }, removed)
}

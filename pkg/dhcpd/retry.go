package dhcpd

import "time"

// retryFilter tells a client that asks again from one that asks once. A flood of DISCOVERs
// from random MACs (a starvation attack, or a broken neighbour) never repeats a MAC, while a
// real client retransmits its DISCOVER within seconds; when the pool has nothing free, only
// a client that asked before may take an address offered to someone else (pool.stealOffer).
//
// Two Bloom filters of one window each: a MAC counts as seen when it is in either, so a
// repeat one to two windows later is recognised. Each note costs two bit tests and sets;
// the filters are allocated on the first note, which only a pool without a free address
// makes.
type retryFilter struct {
	start     time.Time
	cur, prev *retryBits
}

const (
	retryWindow = 5 * time.Second
	retryBitsN  = 1 << 21 // bits per filter: a 20 000/s flood fills one window to ~5 %
)

type retryBits [retryBitsN / 64]uint64

// seen notes mac at now and reports whether it was noted in this or the previous window.
func (f *retryFilter) seen(mac [6]byte, now time.Time) bool {
	if f.cur == nil {
		f.cur, f.prev, f.start = new(retryBits), new(retryBits), now
	}
	switch d := now.Sub(f.start); {
	case d >= 2*retryWindow || d < 0:
		clear(f.cur[:])
		clear(f.prev[:])
		f.start = now
	case d >= retryWindow:
		f.cur, f.prev = f.prev, f.cur
		clear(f.cur[:])
		f.start = f.start.Add(retryWindow)
	}
	h := macHash(mac)
	h1, h2 := h%retryBitsN, (h>>11|h<<21)*0x9e3779b1%retryBitsN
	was := f.cur.has(h1) && f.cur.has(h2) || f.prev.has(h1) && f.prev.has(h2)
	f.cur.set(h1)
	f.cur.set(h2)
	return was
}

func (b *retryBits) has(i uint32) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b *retryBits) set(i uint32)      { b[i/64] |= 1 << (i % 64) }

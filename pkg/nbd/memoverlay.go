package nbd

import (
	"sync"
	"sync/atomic"
)

// memPool is the memory all of a server's in-memory overlays may hold together.
type memPool struct {
	used atomic.Int64
	max  int64
}

// take reserves n bytes, or reports false when the pool would overflow.
func (p *memPool) take(n int64) bool {
	if p.used.Add(n) > p.max {
		p.used.Add(-n)
		return false
	}
	return true
}

// memOverlay is one client's copy-on-write layer held in memory, capped per client and by the
// server's pool: a write that would need more new blocks than either allows fails whole with
// errNoSpace (ENOSPC to the client) before anything is changed.
type memOverlay struct {
	base   *image
	max    int64
	pool   *memPool
	mu     sync.RWMutex
	blocks map[int64]*[blockSize]byte // nil value: a block the client zeroed
	used   int64
}

func newMemOverlay(base *image, max int64, pool *memPool) *memOverlay {
	return &memOverlay{base: base, max: max, pool: pool, blocks: make(map[int64]*[blockSize]byte)}
}

func (o *memOverlay) Size() int64 { return o.base.size }

func (o *memOverlay) OverlayBytes() int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.used
}

func (o *memOverlay) ReadAt(p []byte, off int64) error {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for len(p) > 0 {
		blk := off / blockSize
		in := int(off % blockSize)
		n := min(blockSize-in, len(p))
		b, ok := o.blocks[blk]
		switch {
		case !ok:
			if err := o.base.ReadAt(p[:n], off); err != nil {
				return err
			}
		case b == nil:
			clear(p[:n])
		default:
			copy(p[:n], b[in:])
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

func (o *memOverlay) WriteAt(p []byte, off int64) error { return o.put(p, off, int64(len(p))) }

func (o *memOverlay) Zero(off, n int64) error { return o.put(nil, off, n) }

// put writes p (or zeroes when p is nil) over n bytes at off.
func (o *memOverlay) put(p []byte, off, n int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	end := off + n
	var need int64
	for blk := off / blockSize; blk*blockSize < end; blk++ {
		bs := blk * blockSize
		full := off <= bs && end >= min(bs+blockSize, o.base.size)
		if b, ok := o.blocks[blk]; (!ok || b == nil) && !(p == nil && full) {
			need += blockSize
		}
	}
	if o.used+need > o.max || !o.pool.take(need) {
		return errNoSpace
	}
	// Blocks zeroed whole below hand their memory back to the pool.
	var freed, alloc int64
	defer func() { o.pool.used.Add(-freed) }()
	for blk := off / blockSize; blk*blockSize < end; blk++ {
		bs := blk * blockSize
		be := min(bs+blockSize, o.base.size)
		s, e := max(off, bs), min(end, be)
		b, ok := o.blocks[blk]
		if p == nil && s == bs && e == be {
			if b != nil {
				o.used -= blockSize
				freed += blockSize
			}
			o.blocks[blk] = nil
			continue
		}
		if b == nil {
			b = new([blockSize]byte)
			if !ok {
				if err := o.base.ReadAt(b[:be-bs], bs); err != nil {
					// The reservation stays with the blocks already made; give back the rest.
					freed += need - alloc
					return err
				}
			}
			o.blocks[blk] = b
			o.used += blockSize
			alloc += blockSize
		}
		if p == nil {
			clear(b[s-bs : e-bs])
		} else {
			copy(b[s-bs:e-bs], p[s-off:])
		}
	}
	return nil
}

func (o *memOverlay) Trim(off, n int64) error { return nil }
func (o *memOverlay) Flush() error            { return nil }

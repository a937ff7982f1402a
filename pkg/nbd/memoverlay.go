package nbd

import "sync"

// memOverlay is one client's copy-on-write layer held in memory, capped: a write that would
// need more than max bytes of new blocks fails whole with errNoSpace (ENOSPC to the client)
// before anything is changed.
type memOverlay struct {
	base   *image
	max    int64
	mu     sync.RWMutex
	blocks map[int64]*[blockSize]byte // nil value: a block the client zeroed
	used   int64
}

func newMemOverlay(base *image, max int64) *memOverlay {
	return &memOverlay{base: base, max: max, blocks: make(map[int64]*[blockSize]byte)}
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
	if o.used+need > o.max {
		return errNoSpace
	}
	for blk := off / blockSize; blk*blockSize < end; blk++ {
		bs := blk * blockSize
		be := min(bs+blockSize, o.base.size)
		s, e := max(off, bs), min(end, be)
		b, ok := o.blocks[blk]
		if p == nil && s == bs && e == be {
			if b != nil {
				o.used -= blockSize
			}
			o.blocks[blk] = nil
			continue
		}
		if b == nil {
			b = new([blockSize]byte)
			if !ok {
				if err := o.base.ReadAt(b[:be-bs], bs); err != nil {
					return err
				}
			}
			o.blocks[blk] = b
			o.used += blockSize
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

package nbd

import (
	"encoding/binary"
	"sync/atomic"
)

// blockSize is the overlay granularity.
const blockSize = 4096

// bitmapPage is how many bitmap bytes are written back as one unit on flush.
const bitmapPage = 4096

// bitmap records which blocks a client has written. Bits are set with atomic operations so
// readers never lock; dirty marks the bitmap pages a flush must write back.
type bitmap struct {
	words []atomic.Uint64
	dirty []atomic.Bool // one per bitmapPage bytes of words
	set   atomic.Int64  // number of set bits
}

func newBitmap(blocks int64) *bitmap {
	nw := (blocks + 63) / 64
	np := (nw*8 + bitmapPage - 1) / bitmapPage
	return &bitmap{words: make([]atomic.Uint64, nw), dirty: make([]atomic.Bool, np)}
}

func (b *bitmap) has(i int64) bool { return b.words[i>>6].Load()&(1<<(i&63)) != 0 }

// mark sets bits [from, to) and flags their pages dirty.
func (b *bitmap) mark(from, to int64) {
	for i := from; i < to; i++ {
		w := &b.words[i>>6]
		bit := uint64(1) << (i & 63)
		if w.Or(bit)&bit == 0 {
			b.set.Add(1)
		}
		b.dirty[(i>>6)*8/bitmapPage].Store(true)
	}
}

// bytesLen is the on-disk length of the bitmap.
func (b *bitmap) bytesLen() int64 { return int64(len(b.words)) * 8 }

// page encodes bitmap page p (little-endian words) into dst and returns the used part.
func (b *bitmap) page(p int, dst []byte) []byte {
	first := p * bitmapPage / 8
	last := min(first+bitmapPage/8, len(b.words))
	dst = dst[:0]
	for i := first; i < last; i++ {
		dst = binary.LittleEndian.AppendUint64(dst, b.words[i].Load())
	}
	return dst
}

// load decodes an on-disk bitmap.
func (b *bitmap) load(src []byte) {
	for i := range b.words {
		if 8*i+8 > len(src) {
			break
		}
		v := binary.LittleEndian.Uint64(src[8*i:])
		b.words[i].Store(v)
		for ; v != 0; v &= v - 1 {
			b.set.Add(1)
		}
	}
}

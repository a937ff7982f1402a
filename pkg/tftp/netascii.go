package tftp

import (
	"errors"
	"io"
	"sort"
)

// netasciiFile presents a file translated to netascii (RFC 764 as used by RFC 1350): LF
// becomes CR LF and a bare CR becomes CR NUL. The translation runs forward from wherever
// it stands; the translated offset of a source byte depends on every byte before it, so
// the translation leaves checkpoints behind (translated offset ↔ source offset) and a
// read behind its position (a retransmission, or a client that ACKs inside a window)
// resumes from the nearest checkpoint before it instead of from byte 0. Checkpoints are
// spaced so that a file has at most about checkpointsMax of them: the work of a backward
// read is bounded by the spacing, whatever the offset.
//
// The translated size is only known once the translation reaches the end: the engine
// learns it from the short read there, and only a tsize option makes the server ask for it
// up front (scanSize).
type netasciiFile struct {
	f       File
	srcSize int64
	size    int64 // translated size; -1 until known

	src     int64 // next source byte to translate
	out     int64 // translated offset of the next output byte
	pending int   // second byte of an expansion still to emit, or -1

	every int64        // checkpoint spacing in translated bytes
	cps   []checkpoint // increasing; cps[0] is the start

	chunk      [4096]byte
	chunkStart int64
	chunkLen   int
}

// checkpoint is a translated offset at which a source byte begins.
type checkpoint struct{ out, src int64 }

const (
	checkpointsMax  = 1024
	checkpointEvery = 8 << 10 // the spacing for files up to checkpointsMax × this
)

func newNetascii(f File) *netasciiFile {
	n := &netasciiFile{f: f, srcSize: f.Size(), size: -1, pending: -1, chunkStart: -1}
	// The translated file is at most twice the source.
	n.every = max(checkpointEvery, 2*n.srcSize/checkpointsMax)
	n.cps = []checkpoint{{0, 0}}
	if n.srcSize == 0 {
		n.size = 0
	}
	return n
}

// Size returns the translated size, translating the whole file to learn it if needed.
// It returns -1 when the file cannot be read.
func (n *netasciiFile) Size() int64 {
	s, err := n.scanSize()
	if err != nil {
		return -1
	}
	return s
}

// scanSize translates to the end (leaving checkpoints) unless the size is known.
func (n *netasciiFile) scanSize() (int64, error) {
	if n.size >= 0 {
		return n.size, nil
	}
	for {
		if _, err := n.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n.size, nil
			}
			return -1, err
		}
	}
}

func (n *netasciiFile) Close() error { return n.f.Close() }

// ReadAt fills p with translated bytes from off; past the end it returns io.EOF.
func (n *netasciiFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("netascii: negative offset")
	}
	// Resume from the last checkpoint at or before off when that is behind the current
	// position (a backward read) or ahead of it (a forward read over translated ground).
	i := sort.Search(len(n.cps), func(i int) bool { return n.cps[i].out > off }) - 1
	if c := n.cps[i]; off < n.out || c.out > n.out {
		n.src, n.out, n.pending = c.src, c.out, -1
	}
	for n.out < off {
		if _, err := n.next(); err != nil {
			return 0, err
		}
	}
	for i := range p {
		c, err := n.next()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

func (n *netasciiFile) next() (byte, error) {
	if n.pending >= 0 {
		c := byte(n.pending)
		n.pending = -1
		n.out++
		return c, nil
	}
	if n.src >= n.srcSize {
		n.size = n.out
		return 0, io.EOF
	}
	if last := n.cps[len(n.cps)-1]; n.out >= last.out+n.every {
		n.cps = append(n.cps, checkpoint{n.out, n.src})
	}
	if n.chunkStart < 0 || n.src < n.chunkStart || n.src >= n.chunkStart+int64(n.chunkLen) {
		m, err := n.f.ReadAt(n.chunk[:min(int64(len(n.chunk)), n.srcSize-n.src)], n.src)
		if m == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the file shrank under us
			}
			return 0, err
		}
		n.chunkStart, n.chunkLen = n.src, m
	}
	c := n.chunk[n.src-n.chunkStart]
	n.src++
	n.out++
	switch c {
	case '\n':
		n.pending = '\n'
		return '\r', nil
	case '\r':
		n.pending = 0
		return '\r', nil
	}
	return c, nil
}

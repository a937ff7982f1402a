package tftp

import (
	"errors"
	"io"
)

// netasciiFile presents a file translated to netascii (RFC 764 as used by RFC 1350): LF
// becomes CR LF and a bare CR becomes CR NUL. The translated stream is produced
// sequentially; a ReadAt behind the current position (a retransmission) restarts the
// translation from the beginning, which is rare and only costs a re-scan of a text file.
type netasciiFile struct {
	f    File
	size int64 // translated size

	src     int64 // next source byte to translate
	out     int64 // translated offset of the next output byte
	pending int   // second byte of an expansion still to emit, or -1

	chunk      [512]byte
	chunkStart int64
	chunkLen   int
}

func newNetascii(f File) (*netasciiFile, error) {
	n := &netasciiFile{f: f, pending: -1, chunkStart: -1}
	// The translated size is needed up front: it decides where the last block ends and is
	// what tsize reports.
	size := f.Size()
	extra := int64(0)
	for off := int64(0); off < size; {
		m, err := f.ReadAt(n.chunk[:min(int64(len(n.chunk)), size-off)], off)
		for _, c := range n.chunk[:m] {
			if c == '\n' || c == '\r' {
				extra++
			}
		}
		off += int64(m)
		if err != nil && !(errors.Is(err, io.EOF) && off == size) {
			return nil, err
		}
		if m == 0 {
			return nil, io.ErrUnexpectedEOF
		}
	}
	n.size = size + extra
	return n, nil
}

func (n *netasciiFile) Size() int64  { return n.size }
func (n *netasciiFile) Close() error { return n.f.Close() }

// ReadAt fills p with translated bytes from off.
func (n *netasciiFile) ReadAt(p []byte, off int64) (int, error) {
	if off < n.out {
		n.src, n.out, n.pending = 0, 0, -1
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
	if n.src >= n.f.Size() {
		return 0, io.EOF
	}
	if n.chunkStart < 0 || n.src < n.chunkStart || n.src >= n.chunkStart+int64(n.chunkLen) {
		m, err := n.f.ReadAt(n.chunk[:], n.src)
		if m == 0 {
			if err == nil {
				err = io.ErrUnexpectedEOF
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

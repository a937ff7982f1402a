package nbd

import (
	"errors"
	"io"
	"os"
)

// errNoSpace is the storage error a capped in-memory overlay returns when full; it is answered
// with ENOSPC.
var errNoSpace = errors.New("nbd: overlay full")

// store is what one connection reads and writes: an image, possibly under the client's
// overlay. Offsets and lengths are already checked against Size.
type store interface {
	ReadAt(p []byte, off int64) error
	WriteAt(p []byte, off int64) error
	Zero(off, n int64) error
	Trim(off, n int64) error
	Flush() error
	Size() int64
	// OverlayBytes is the client's private data held (0 for a shared image).
	OverlayBytes() int64
}

// fileRanges is implemented by stores whose bytes live in files, so long reads can be sent
// with sendfile: fn is called for consecutive pieces of [off, off+n) with the file holding
// each. ok is false when the store cannot (an image held in memory).
type fileRanges interface {
	ranges(off, n int64, fn func(f *os.File, off, n int64) error) (ok bool, err error)
}

// image is an export's shared content: a file or block device, or a copy of it in memory.
type image struct {
	name     string
	f        *os.File // nil when ram holds the content
	ram      []byte
	size     int64
	blockDev bool
	writable bool
}

func (m *image) Size() int64         { return m.size }
func (m *image) OverlayBytes() int64 { return 0 }

func (m *image) ReadAt(p []byte, off int64) error {
	if m.ram != nil {
		copy(p, m.ram[off:])
		return nil
	}
	_, err := m.f.ReadAt(p, off)
	if err == io.EOF {
		// A file that shrank under us reads as zeroes rather than failing the client.
		err = nil
	}
	return err
}

func (m *image) ranges(off, n int64, fn func(*os.File, int64, int64) error) (bool, error) {
	if m.f == nil {
		return false, nil
	}
	return true, fn(m.f, off, n)
}

func (m *image) WriteAt(p []byte, off int64) error {
	if m.ram != nil {
		copy(m.ram[off:], p)
		return nil
	}
	_, err := m.f.WriteAt(p, off)
	return err
}

func (m *image) Zero(off, n int64) error {
	if m.ram != nil {
		clear(m.ram[off : off+n])
		return nil
	}
	if !m.blockDev && punchHole(m.f, off, n) == nil {
		return nil
	}
	return writeZeroes(m.f, off, n)
}

func (m *image) Trim(off, n int64) error {
	if m.ram == nil && !m.blockDev {
		// Trim is a hint; a file system that cannot punch holes just keeps the data.
		_ = punchHole(m.f, off, n)
	}
	return nil
}

func (m *image) Flush() error {
	if m.ram != nil || !m.writable {
		return nil
	}
	return fdatasync(m.f)
}

func (m *image) close() error {
	if m.f != nil {
		return m.f.Close()
	}
	return nil
}

var zeroBlock [64 << 10]byte

// writeZeroes writes n zero bytes at off in chunks from a shared zero buffer.
func writeZeroes(w io.WriterAt, off, n int64) error {
	for n > 0 {
		c := min(n, int64(len(zeroBlock)))
		if _, err := w.WriteAt(zeroBlock[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

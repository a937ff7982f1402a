package nbd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// overlayMagic heads an overlay's bitmap file, followed by the image size it was made for.
const overlayMagic = "PXENBDv1"

const overlayHeader = 16

// fileOverlay is one client's copy-on-write layer over a shared image: blocks the client
// wrote live in a sparse data file, a bitmap says which. The on-disk bitmap only ever
// names blocks whose data was made durable first (Flush syncs data, then writes the bitmap),
// so a crash can lose recent unflushed writes but never serve a block that was not written.
type fileOverlay struct {
	base  *image
	data  *os.File
	bmf   *os.File
	bits  *bitmap
	wmu   sync.Mutex // serialises writers: read-modify-write of partial blocks
	fmu   sync.Mutex // serialises flushes
	pageB []byte
}

// openFileOverlay opens or creates the overlay in dir for base. An overlay made for an image
// of another size is moved aside (dir + ".stale-<time>") rather than served.
func openFileOverlay(dir string, base *image) (*fileOverlay, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "bitmap")); err == nil {
		if len(b) < overlayHeader || string(b[:8]) != overlayMagic || int64(binary.BigEndian.Uint64(b[8:])) != base.size {
			stale := fmt.Sprintf("%s.stale-%d", dir, time.Now().Unix())
			if err := os.Rename(dir, stale); err != nil {
				return nil, fmt.Errorf("nbd: overlay %s does not match the image and cannot be moved aside: %w", dir, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	blocks := (base.size + blockSize - 1) / blockSize
	o := &fileOverlay{base: base, bits: newBitmap(blocks), pageB: make([]byte, 0, bitmapPage)}
	var err error
	if o.data, err = os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	if err = o.data.Truncate(base.size); err != nil {
		o.data.Close()
		return nil, err
	}
	bmPath := filepath.Join(dir, "bitmap")
	if o.bmf, err = os.OpenFile(bmPath, os.O_RDWR, 0); errors.Is(err, fs.ErrNotExist) {
		err = createBitmapFile(bmPath, base.size, o.bits.bytesLen())
		if err == nil {
			o.bmf, err = os.OpenFile(bmPath, os.O_RDWR, 0)
		}
	}
	if err != nil {
		o.data.Close()
		return nil, err
	}
	buf := make([]byte, o.bits.bytesLen())
	if _, err := o.bmf.ReadAt(buf, overlayHeader); err != nil && err != io.EOF {
		o.close()
		return nil, err
	}
	o.bits.load(buf)
	return o, nil
}

// createBitmapFile writes an empty bitmap under a temporary name and renames it into place,
// so a crash leaves either no bitmap or a whole one.
func createBitmapFile(path string, size, n int64) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	hdr := append([]byte(overlayMagic), make([]byte, 8)...)
	binary.BigEndian.PutUint64(hdr[8:], uint64(size))
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Truncate(overlayHeader + n)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

func (o *fileOverlay) Size() int64         { return o.base.size }
func (o *fileOverlay) OverlayBytes() int64 { return o.bits.set.Load() * blockSize }

// ReadAt reads runs of blocks from the overlay or the image, whichever holds them.
func (o *fileOverlay) ReadAt(p []byte, off int64) error {
	for len(p) > 0 {
		blk := off / blockSize
		in := o.bits.has(blk)
		n := (blk+1)*blockSize - off
		for n < int64(len(p)) && o.bits.has((off+n)/blockSize) == in {
			n += blockSize
		}
		n = min(n, int64(len(p)))
		var err error
		if in {
			_, err = o.data.ReadAt(p[:n], off)
			if err == io.EOF {
				err = nil
			}
		} else {
			err = o.base.ReadAt(p[:n], off)
		}
		if err != nil {
			return err
		}
		p = p[n:]
		off += n
	}
	return nil
}

func (o *fileOverlay) ranges(off, n int64, fn func(*os.File, int64, int64) error) (bool, error) {
	if o.base.f == nil {
		return false, nil
	}
	for n > 0 {
		blk := off / blockSize
		in := o.bits.has(blk)
		k := (blk+1)*blockSize - off
		for k < n && o.bits.has((off+k)/blockSize) == in {
			k += blockSize
		}
		k = min(k, n)
		f := o.base.f
		if in {
			f = o.data
		}
		if err := fn(f, off, k); err != nil {
			return true, err
		}
		off += k
		n -= k
	}
	return true, nil
}

// WriteAt writes p to the overlay. Partial blocks not yet in the overlay are first filled
// from the image (read-modify-write); bits are set only after the data is written.
func (o *fileOverlay) WriteAt(p []byte, off int64) error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	return o.write(p, off)
}

func (o *fileOverlay) write(p []byte, off int64) error {
	end := off + int64(len(p))
	first := off / blockSize
	last := (end - 1) / blockSize
	// Partial head and tail blocks that the overlay lacks get the image's bytes around p.
	for _, blk := range []int64{first, last} {
		bs, be := blk*blockSize, min(blk*blockSize+blockSize, o.base.size)
		if (off <= bs && end >= be) || o.bits.has(blk) {
			continue
		}
		var tmp [blockSize]byte
		b := tmp[:be-bs]
		if err := o.base.ReadAt(b, bs); err != nil {
			return err
		}
		s, e := max(off, bs), min(end, be)
		copy(b[s-bs:], p[s-off:e-off])
		if _, err := o.data.WriteAt(b, bs); err != nil {
			return err
		}
		// The middle write below must not redo this block's slice with stale edges, and
		// it would only rewrite the same bytes; marking now is safe: the data is written.
		o.bits.mark(blk, blk+1)
		if first == last {
			return nil
		}
	}
	if _, err := o.data.WriteAt(p, off); err != nil {
		return err
	}
	o.bits.mark(first, last+1)
	return nil
}

// Zero makes [off, off+n) read as zeroes: whole blocks become holes in the data file,
// partial ones are written.
func (o *fileOverlay) Zero(off, n int64) error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	end := off + n
	fb := (off + blockSize - 1) / blockSize * blockSize
	lb := end / blockSize * blockSize
	if end == o.base.size {
		lb = end
	}
	if fb >= lb {
		return o.writeZeroRange(off, end)
	}
	if err := o.writeZeroRange(off, fb); err != nil {
		return err
	}
	if err := punchHole(o.data, fb, lb-fb); err != nil {
		if err := writeZeroes(o.data, fb, lb-fb); err != nil {
			return err
		}
	}
	o.bits.mark(fb/blockSize, (lb+blockSize-1)/blockSize)
	return o.writeZeroRange(lb, end)
}

func (o *fileOverlay) writeZeroRange(from, to int64) error {
	for from < to {
		c := min(to-from, int64(len(zeroBlock)))
		if err := o.write(zeroBlock[:c], from); err != nil {
			return err
		}
		from += c
	}
	return nil
}

// Trim is a hint the overlay ignores: the client's data stays readable, which the protocol
// allows.
func (o *fileOverlay) Trim(off, n int64) error { return nil }

// Flush makes every write so far durable: the data file first, then the bitmap pages that
// changed, so no bit reaches the disk before its block.
func (o *fileOverlay) Flush() error {
	o.fmu.Lock()
	defer o.fmu.Unlock()
	var pages [][]byte
	var idx []int
	for i := range o.bits.dirty {
		if o.bits.dirty[i].Swap(false) {
			// Snapshot before syncing the data: every bit in it belongs to a block
			// whose write already returned, so the data sync below covers it.
			pages = append(pages, bytes.Clone(o.bits.page(i, o.pageB)))
			idx = append(idx, i)
		}
	}
	if err := fdatasync(o.data); err != nil {
		o.redirty(idx)
		return err
	}
	if len(pages) == 0 {
		return nil
	}
	for k, pg := range pages {
		if _, err := o.bmf.WriteAt(pg, overlayHeader+int64(idx[k])*bitmapPage); err != nil {
			o.redirty(idx)
			return err
		}
	}
	if err := fdatasync(o.bmf); err != nil {
		o.redirty(idx)
		return err
	}
	return nil
}

func (o *fileOverlay) redirty(idx []int) {
	for _, i := range idx {
		o.bits.dirty[i].Store(true)
	}
}

func (o *fileOverlay) close() error {
	err := o.Flush()
	if o.data != nil {
		o.data.Close()
	}
	if o.bmf != nil {
		o.bmf.Close()
	}
	return err
}

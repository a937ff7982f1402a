package nbd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func openTestImage(t *testing.T, n int) (*image, []byte) {
	t.Helper()
	p, b := testImage(t, n)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := newImage("disk.img", f, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.close() })
	return img, b
}

// abandon drops an overlay's files without flushing, as a crash would.
func (o *fileOverlay) abandon() {
	o.data.Close()
	o.bmf.Close()
}

func readAll(t *testing.T, st store) []byte {
	t.Helper()
	b := make([]byte, st.Size())
	if err := st.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileOverlay(t *testing.T) {
	const size = 1<<20 + 1000 // the last block is partial
	img, base := openTestImage(t, size)
	dir := filepath.Join(t.TempDir(), "disk.img", "52-54-00-00-00-01")
	o, err := openFileOverlay(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(base)
	put := func(off int, p []byte) {
		t.Helper()
		if err := o.WriteAt(p, int64(off)); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], p)
	}
	put(1, []byte("x"))                           // inside one block
	put(4000, bytes.Repeat([]byte{1}, 10000))     // head and tail partial
	put(65536, bytes.Repeat([]byte{2}, 8192))     // aligned
	put(size-10, []byte("end of the image"[:10])) // partial last block
	if err := o.Zero(100000, 50000); err != nil { // partial edges, holes between
		t.Fatal(err)
	}
	clear(want[100000:150000])
	if !bytes.Equal(readAll(t, o), want) {
		t.Fatal("overlay reads differ from what was written")
	}
	if !bytes.Equal(readAll(t, img), base) {
		t.Fatal("the base image changed")
	}

	// A crash before FLUSH: the bitmap on disk names no block, so the overlay serves the
	// image, never half-known data.
	o.abandon()
	o, err = openFileOverlay(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, o), base) || o.OverlayBytes() != 0 {
		t.Fatal("unflushed writes served after a crash")
	}

	// Written and flushed, then a crash: everything is there.
	want = bytes.Clone(base)
	put(4000, bytes.Repeat([]byte{3}, 10000))
	put(size-10, []byte("0123456789"))
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	o.abandon()
	o, err = openFileOverlay(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, o), want) {
		t.Fatal("flushed writes lost")
	}
	if o.OverlayBytes() != 5*blockSize { // blocks 0-3 and the last
		t.Errorf("overlay bytes %d, want %d", o.OverlayBytes(), 5*blockSize)
	}
	o.close()

	// An overlay made for another image size is moved aside, not served.
	img2, base2 := openTestImage(t, size+4096)
	o2, err := openFileOverlay(dir, img2)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.close()
	if !bytes.Equal(readAll(t, o2), base2) {
		t.Error("stale overlay served over another image")
	}
	if m, _ := filepath.Glob(dir + ".stale-*"); len(m) != 1 {
		t.Errorf("stale overlay not kept aside: %v", m)
	}
}

func TestMemOverlay(t *testing.T) {
	img, base := openTestImage(t, 3*blockSize+100)
	pool := &memPool{max: 1 << 20}
	o := newMemOverlay(img, 2*blockSize, pool)
	want := bytes.Clone(base)
	if err := o.WriteAt([]byte("abc"), blockSize-1); err != nil { // two blocks
		t.Fatal(err)
	}
	copy(want[blockSize-1:], "abc")
	if err := o.WriteAt([]byte("z"), 3*blockSize); err != errNoSpace {
		t.Fatalf("third block: %v, want errNoSpace", err)
	}
	if err := o.Zero(2*blockSize, blockSize); err != nil { // whole block: free
		t.Fatal(err)
	}
	clear(want[2*blockSize : 3*blockSize])
	if err := o.Zero(blockSize, blockSize); err != nil { // whole block: frees one
		t.Fatal(err)
	}
	clear(want[blockSize : 2*blockSize])
	if o.OverlayBytes() != blockSize {
		t.Errorf("used %d", o.OverlayBytes())
	}
	if err := o.WriteAt([]byte("z"), 3*blockSize); err != nil {
		t.Fatalf("after freeing: %v", err)
	}
	want[3*blockSize] = 'z'
	if !bytes.Equal(readAll(t, o), want) {
		t.Error("memory overlay reads differ")
	}
	if pool.used.Load() != o.OverlayBytes() {
		t.Errorf("pool holds %d, overlay %d", pool.used.Load(), o.OverlayBytes())
	}
	// The server-wide pool caps overlays that are each within their own cap.
	small := &memPool{max: 3 * blockSize}
	a, b := newMemOverlay(img, 2*blockSize, small), newMemOverlay(img, 2*blockSize, small)
	if err := a.WriteAt(make([]byte, 2*blockSize), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAt(make([]byte, 2*blockSize), 0); err != errNoSpace {
		t.Errorf("second overlay past the pool: %v, want errNoSpace", err)
	}
	if err := b.WriteAt([]byte("x"), 0); err != nil {
		t.Errorf("second overlay within the pool: %v", err)
	}
}

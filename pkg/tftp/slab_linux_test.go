//go:build linux

package tftp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestSlabOutsideHeap: a server's packet buffers (MaxTransfers × (BlockSizeMax+4), 4 MiB by
// default) are not on the Go heap, so they do not raise the collector's pacing target.
func TestSlabOutsideHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := &bufPool{n: 64, size: 65468}
	buf := p.get()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("heap grew by %d bytes for a %d-byte slab", grew, 64*65468)
	}
	addr := uintptr(unsafe.Pointer(&buf[0]))
	buf[0], buf[len(buf)-1] = 1, 2 // the memory is there and writable
	if !mapped(t, addr) {
		t.Fatalf("slab at %#x not found in /proc/self/maps", addr)
	}
	p.release()
	if !mapped(t, addr) {
		t.Fatal("slab unmapped while a buffer was out")
	}
	p.put(buf)
	p.release()
	if mapped(t, addr) {
		t.Fatal("slab still mapped with every buffer back")
	}
	if b := p.get(); len(b) != 65468 {
		t.Fatalf("buffer of %d bytes after a release", len(b))
	}
}

// TestSlabReleasedAfterServe: the slab is unmapped once Serve has returned and the last
// transfer has given its buffer back, and mapped again by the next Serve's first transfer.
func TestSlabReleasedAfterServe(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 3000)
	src, err := NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := &Server{Source: src, Logger: testLogger(t), Timeout: 100 * time.Millisecond}
	for round := range 2 {
		conn := clientConn(t) // a listener like any other UDP socket
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, conn) }()
		srv := conn.LocalAddr().(*net.UDPAddr).AddrPort()
		if _, err := newTestClient(clientConn(t)).get(srv, "f", "octet"); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(s.bufs.slab)))
		s.mu.Unlock()
		if addr == 0 || !mapped(t, addr) {
			t.Fatalf("round %d: no slab mapped while serving", round)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if mapped(t, addr) {
			t.Fatalf("round %d: slab still mapped after Serve returned", round)
		}
	}
}

// mapped reports whether addr lies in a mapping of this process.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x", &lo, &hi); err == nil && addr >= lo && addr < hi {
			return true
		}
	}
	return false
}

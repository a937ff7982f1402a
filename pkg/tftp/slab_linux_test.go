//go:build linux

package tftp

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestSlabOutsideHeap: a server's packet buffers (MaxTransfers × (BlockSizeMax+4), 4 MiB by
// default) are not on the Go heap, so they do not raise the collector's pacing target, and
// they are unmapped once the server is garbage.
func TestSlabOutsideHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := &Server{MaxTransfers: 64, BlockSizeMax: 65464}
	s.init()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("heap grew by %d bytes for a %d-byte slab", grew, 64*65468)
	}
	buf := <-s.pool
	addr := uintptr(unsafe.Pointer(&buf[0]))
	buf[0], buf[len(buf)-1] = 1, 2 // the memory is there and writable
	if !mapped(t, addr) {
		t.Fatalf("slab at %#x not found in /proc/self/maps", addr)
	}
	unmapped := make(chan uintptr, 64)
	hook := func(b []byte) {
		select {
		case unmapped <- uintptr(unsafe.Pointer(&b[0])):
		default:
		}
	}
	unmapHook.Store(&hook)
	t.Cleanup(func() { unmapHook.Store(nil) })
	buf, s = nil, nil
	for range 100 {
		runtime.GC()
		// Other tests' servers may be collected now too; ours is the slab its first
		// buffer starts.
		deadline := time.After(10 * time.Millisecond)
	drain:
		for {
			select {
			case got := <-unmapped:
				if got == addr {
					return
				}
			case <-deadline:
				break drain
			}
		}
	}
	t.Fatalf("slab at %#x not unmapped after its server became garbage", addr)
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

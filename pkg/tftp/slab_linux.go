//go:build linux

package tftp

import (
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// newSlab returns n zeroed bytes for the packet buffers, mapped outside the Go heap and
// unmapped once owner is garbage. Kept out of the heap, the buffers do not count towards
// the garbage collector's pacing: on the heap, the 4 MiB of a default server doubled the
// garbage allowed between collections and the daemon's resident memory settled ~3 MiB
// higher (docs/bench/tftp.md). Pages no transfer touches stay unmapped either way.
func newSlab(owner *Server, n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n)
	}
	// Only the server and its transfers hold the buffers; a transfer holds the server.
	runtime.AddCleanup(owner, func(b []byte) {
		if f := unmapHook.Load(); f != nil {
			(*f)(b)
		}
		_ = unix.Munmap(b)
	}, b)
	return b
}

// unmapHook, when set, hears of every slab about to be unmapped (a test watches it).
var unmapHook atomic.Pointer[func([]byte)]

//go:build linux

package tftp

import "golang.org/x/sys/unix"

// mapSlab returns n zeroed bytes mapped outside the Go heap (see bufPool for why), or heap
// memory if the mapping fails.
func mapSlab(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

// unmapSlab returns a slab from mapSlab; heap memory is left to the collector.
func unmapSlab(b []byte) { _ = unix.Munmap(b) }

//go:build !linux

package tftp

// mapSlab returns n zeroed bytes for the packet buffers.
func mapSlab(n int) []byte { return make([]byte, n) }

// unmapSlab leaves the slab to the collector.
func unmapSlab([]byte) {}

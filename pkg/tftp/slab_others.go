//go:build !linux

package tftp

// newSlab returns n zeroed bytes for the packet buffers.
func newSlab(_ *Server, n int) []byte { return make([]byte, n) }

//go:build !linux

package tftp

import (
	"net"
	"net/netip"
)

const msgTrunc = 0

// packetInfoReader is a stub off Linux: replies leave from the listener's own address (a
// wildcard listener lets the kernel choose), and the block size cap assumes a 1500-byte MTU.
type packetInfoReader struct {
	fallback netip.Addr
}

func newPacketInfoReader(conn *net.UDPConn) *packetInfoReader {
	r := &packetInfoReader{}
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		if a := la.AddrPort().Addr().Unmap(); !a.IsUnspecified() {
			r.fallback = a
		}
	}
	return r
}

func (r *packetInfoReader) parse([]byte) (netip.Addr, int) { return netip.Addr{}, 0 }

func interfaceMTU(int) int { return 0 }

//go:build linux

package tftp

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const msgTrunc = unix.MSG_TRUNC

// packetInfoReader learns, per request, the destination address and interface through
// IP_PKTINFO (IPV6_RECVPKTINFO), so that a wildcard listener on a multi-address host
// still answers each client from the address it asked.
type packetInfoReader struct {
	v6       bool
	enabled  bool
	fallback netip.Addr // the listener's own address when packet info is unavailable
}

func newPacketInfoReader(conn *net.UDPConn) *packetInfoReader {
	r := &packetInfoReader{}
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		ap := la.AddrPort()
		if a := ap.Addr().Unmap(); !a.IsUnspecified() {
			r.fallback = a
		}
	}
	if err := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err == nil {
		r.enabled = true
		return r
	}
	if err := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err == nil {
		r.enabled, r.v6 = true, true
	}
	return r
}

// parse returns the request's destination address (invalid if unknown or not unicast) and
// the index of the interface it came in on (0 if unknown).
func (r *packetInfoReader) parse(oob []byte) (netip.Addr, int) {
	if !r.enabled || len(oob) == 0 {
		return netip.Addr{}, 0
	}
	var dst net.IP
	var ifindex int
	if r.v6 {
		var cm ipv6.ControlMessage
		if cm.Parse(oob) != nil {
			return netip.Addr{}, 0
		}
		dst, ifindex = cm.Dst, cm.IfIndex
	} else {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) != nil {
			return netip.Addr{}, 0
		}
		dst, ifindex = cm.Dst, cm.IfIndex
	}
	a, ok := netip.AddrFromSlice(dst)
	if !ok {
		return netip.Addr{}, ifindex
	}
	a = a.Unmap()
	// A request sent to a broadcast address is answered from whatever address the route
	// picks; binding to the broadcast address would fail.
	if !a.IsGlobalUnicast() && !a.IsLoopback() {
		return netip.Addr{}, ifindex
	}
	return a, ifindex
}

// interfaceMTU returns the MTU of the interface with the given index, or 0 if unknown.
func interfaceMTU(ifindex int) int {
	if ifindex <= 0 {
		return 0
	}
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return 0
	}
	return ifi.MTU
}

package dhcpd

import (
	"encoding/binary"
	"net/netip"
)

const (
	ipv4HeaderLen = 20
	udpHeaderLen  = 8
)

// parseUDP4 splits an IPv4 datagram carrying UDP into addresses, ports and payload for the
// side sockets this package opens itself (the detection probe and the rogue watch). Unlike
// rawdhcp.ParseIPv4UDP it checks lengths, not checksums: frames captured on a veth carry
// partial checksums (offload), and a watch only uses the content for a log line.
func parseUDP4(b []byte) (src, dst netip.Addr, sport, dport uint16, payload []byte, ok bool) {
	if len(b) < ipv4HeaderLen || b[0]>>4 != 4 || b[9] != 17 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < ipv4HeaderLen || total < ihl+udpHeaderLen || total > len(b) {
		return
	}
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return // a fragment: DHCP never needs them
	}
	src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	u := b[ihl:total]
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < udpHeaderLen || ulen > len(u) {
		return
	}
	return src, dst, binary.BigEndian.Uint16(u[0:2]), binary.BigEndian.Uint16(u[2:4]), u[udpHeaderLen:ulen], true
}

package rawdhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv4UDPHeaderLen is the size of the IPv4 (no options) and UDP headers Append writes.
const IPv4UDPHeaderLen = 20 + 8

// IPv4UDP is what the IPv4 and UDP headers of a datagram say.
type IPv4UDP struct {
	Src, Dst netip.AddrPort
	TTL      uint8  // 0 means 64 when building
	ID       uint16 // IPv4 identification
}

// AppendIPv4UDP appends an IPv4 header (no options, checksum set), a UDP header (checksum
// over the pseudo-header set) and payload to dst.
func AppendIPv4UDP(dst []byte, h IPv4UDP, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, IPv4UDPHeaderLen)...)
	dst = append(dst, payload...)
	if err := putIPv4UDP(dst[start:], h); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// putIPv4UDP fills the first 28 bytes of pkt with headers for the payload pkt[28:], so a
// sender can encode the payload in place first.
func putIPv4UDP(pkt []byte, h IPv4UDP) error {
	if !h.Src.Addr().Is4() || !h.Dst.Addr().Is4() {
		return fmt.Errorf("rawdhcp: IPv4/UDP header needs IPv4 addresses, got %v → %v", h.Src, h.Dst)
	}
	if len(pkt) < IPv4UDPHeaderLen || len(pkt) > 0xffff {
		return fmt.Errorf("rawdhcp: IPv4 datagram of %d bytes", len(pkt))
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	ip := pkt[:20]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(ip[4:], h.ID)
	ip[6], ip[7] = 0, 0
	ip[8], ip[9] = ttl, 17
	ip[10], ip[11] = 0, 0
	src, dst := h.Src.Addr().As4(), h.Dst.Addr().As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(0, ip)))

	udp := pkt[20:]
	binary.BigEndian.PutUint16(udp[0:], h.Src.Port())
	binary.BigEndian.PutUint16(udp[2:], h.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	c := ^fold(sum(pseudo(src, dst, len(udp)), udp))
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones; 0 means "no checksum"
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return nil
}

// ParseIPv4UDP checks an IPv4 datagram carrying UDP and returns its headers and the UDP
// payload (aliasing b). It verifies the IPv4 header checksum, lengths and, unless the
// sender left it 0, the UDP checksum; fragments are refused. Bytes after the IPv4 total
// length (Ethernet padding) are ignored. Errors wrap ErrMalformed.
func ParseIPv4UDP(b []byte) (IPv4UDP, []byte, error) { return parseIPv4UDP(b, true) }

// parseIPv4UDP is ParseIPv4UDP; checkUDP false skips the UDP checksum, for frames whose
// checksum the sending host left to offload.
func parseIPv4UDP(b []byte, checkUDP bool) (IPv4UDP, []byte, error) {
	var h IPv4UDP
	if len(b) < 20 {
		return h, nil, fmt.Errorf("rawdhcp: IPv4 packet of %d bytes: %w", len(b), ErrMalformed)
	}
	if b[0]>>4 != 4 {
		return h, nil, fmt.Errorf("rawdhcp: IP version %d: %w", b[0]>>4, ErrMalformed)
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return h, nil, fmt.Errorf("rawdhcp: IPv4 header length %d, total length %d, have %d bytes: %w", ihl, total, len(b), ErrMalformed)
	}
	if fold(sum(0, b[:ihl])) != 0xffff {
		return h, nil, fmt.Errorf("rawdhcp: IPv4 header checksum: %w", ErrMalformed)
	}
	if b[9] != 17 {
		return h, nil, fmt.Errorf("rawdhcp: IP protocol %d is not UDP: %w", b[9], ErrMalformed)
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		return h, nil, fmt.Errorf("rawdhcp: IPv4 fragment: %w", ErrMalformed)
	}
	udp := b[ihl:total]
	if len(udp) < 8 {
		return h, nil, fmt.Errorf("rawdhcp: UDP header truncated: %w", ErrMalformed)
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return h, nil, fmt.Errorf("rawdhcp: UDP length %d with %d bytes: %w", ulen, len(udp), ErrMalformed)
	}
	udp = udp[:ulen]
	src, dst := [4]byte(b[12:16]), [4]byte(b[16:20])
	if checkUDP && binary.BigEndian.Uint16(udp[6:]) != 0 && fold(sum(pseudo(src, dst, ulen), udp)) != 0xffff {
		return h, nil, fmt.Errorf("rawdhcp: UDP checksum: %w", ErrMalformed)
	}
	h.Src = netip.AddrPortFrom(netip.AddrFrom4(src), binary.BigEndian.Uint16(udp[0:]))
	h.Dst = netip.AddrPortFrom(netip.AddrFrom4(dst), binary.BigEndian.Uint16(udp[2:]))
	h.TTL = b[8]
	h.ID = binary.BigEndian.Uint16(b[4:])
	return h, udp[8:], nil
}

// sum adds b as big-endian 16-bit words to s (RFC 1071), without folding.
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func pseudo(src, dst [4]byte, udpLen int) uint32 {
	s := sum(0, src[:])
	s = sum(s, dst[:])
	return s + 17 + uint32(udpLen)
}

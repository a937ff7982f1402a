package rawdhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The router-advertisement codec answers iPXE's IPv6 autoconfiguration: iPXE waits for a
// router advertisement after its DHCP is done, and one that asks for no DHCPv6 (managed and
// other-config flags clear) ends that wait at once. The codec is pure: ParseRS reads a
// router solicitation from an Ethernet frame, PutRA writes the answer into a caller buffer.
// Neither allocates.

// Ethernet, IPv6 and ICMPv6 numbers used by the codec.
const (
	etherTypeIPv6 = 0x86dd
	protoICMPv6   = 58
	icmp6RS       = 133 // router solicitation
	icmp6RA       = 134 // router advertisement
	ndpOptSLLA    = 1   // source link-layer address option
	ndpOptPrefix  = 3   // prefix information option
	ndpHopLimit   = 255 // RFC 4861: neighbour discovery is only valid with hop limit 255

	ethHeaderLen  = 14
	ipv6HeaderLen = 40
	rsHeaderLen   = 8  // type, code, checksum, reserved
	raHeaderLen   = 16 // type, code, checksum, cur hop limit, flags, router lifetime, reachable, retrans
	slla6Len      = 8  // source link-layer address option for a 6-byte MAC
)

// RAFrameLen is the size of the Ethernet frame PutRA writes: Ethernet, IPv6, the router
// advertisement header and one source link-layer address option.
const RAFrameLen = ethHeaderLen + ipv6HeaderLen + raHeaderLen + slla6Len

// AllNodes is ff02::1, the destination of an advertisement answering a solicitation sent
// from the unspecified address.
var AllNodes = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 0x01})

// RouterSolicitation is what ParseRS reads from one frame.
type RouterSolicitation struct {
	SrcMAC MAC        // Ethernet source: the client
	DstMAC MAC        // Ethernet destination (33:33:00:00:00:02 for ff02::2)
	Src    netip.Addr // IPv6 source: the client's link-local address, or :: before it has one
	Dst    netip.Addr // IPv6 destination, normally ff02::2
	// SLLA is the source link-layer address option, when HasSLLA.
	SLLA    MAC
	HasSLLA bool
}

// ParseRS reads an ICMPv6 router solicitation from an untagged Ethernet frame into rs,
// validating it as RFC 4861 §6.1.1 asks: IPv6 with no extension header, hop limit 255, a
// correct ICMPv6 checksum, code 0, well-formed options, and no source link-layer address
// option when the source is unspecified. Errors wrap ErrMalformed.
func ParseRS(frame []byte, rs *RouterSolicitation) error {
	icmp, src, dst, err := parseND(frame, icmp6RS, rsHeaderLen)
	if err != nil {
		return err
	}
	*rs = RouterSolicitation{DstMAC: MAC(frame[0:6]), SrcMAC: MAC(frame[6:12]), Src: src, Dst: dst}
	opts := icmp[rsHeaderLen:]
	for len(opts) > 0 {
		n := int(opts[1]) * 8 // parseND checked every option's length
		if opts[0] == ndpOptSLLA && n == slla6Len && !rs.HasSLLA {
			rs.SLLA, rs.HasSLLA = MAC(opts[2:8]), true
		}
		opts = opts[n:]
	}
	if src.IsUnspecified() && rs.HasSLLA {
		return fmt.Errorf("rawdhcp: router solicitation: source link-layer option from the unspecified address: %w", ErrMalformed)
	}
	return nil
}

// RouterAdvertInfo is what ParseRA reads from an advertisement some router sent.
type RouterAdvertInfo struct {
	SrcMAC   MAC
	Src      netip.Addr // the router's link-local address
	Flags    uint8      // M (0x80), O (0x40), …
	Lifetime uint16     // router lifetime in seconds; 0 = not a default router
	Prefixes int        // prefix information options
}

// ParseRA reads an ICMPv6 router advertisement from an untagged Ethernet frame, validated
// as RFC 4861 §6.1.2 asks (link-local source, hop limit 255, checksum, code 0, options).
// The responder uses it to notice a real IPv6 router on the link. Errors wrap ErrMalformed.
func ParseRA(frame []byte, ra *RouterAdvertInfo) error {
	icmp, src, _, err := parseND(frame, icmp6RA, raHeaderLen)
	if err != nil {
		return err
	}
	if !src.IsLinkLocalUnicast() {
		return fmt.Errorf("rawdhcp: router advertisement: source %v is not link-local: %w", src, ErrMalformed)
	}
	*ra = RouterAdvertInfo{SrcMAC: MAC(frame[6:12]), Src: src, Flags: icmp[5], Lifetime: binary.BigEndian.Uint16(icmp[6:8])}
	for opts := icmp[raHeaderLen:]; len(opts) > 0; opts = opts[int(opts[1])*8:] {
		if opts[0] == ndpOptPrefix {
			ra.Prefixes++
		}
	}
	return nil
}

// parseND checks the Ethernet, IPv6 and ICMPv6 layers of a neighbour discovery message of
// type typ with a fixed header of hdrLen bytes, and that its options are well formed. It
// returns the ICMPv6 message (without the frame's padding) and the IPv6 addresses.
func parseND(frame []byte, typ byte, hdrLen int) (icmp []byte, src, dst netip.Addr, err error) {
	what := "router solicitation"
	if typ == icmp6RA {
		what = "router advertisement"
	}
	if len(frame) < ethHeaderLen+ipv6HeaderLen+hdrLen {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: frame of %d bytes is too short: %w", what, len(frame), ErrMalformed)
	}
	if et := binary.BigEndian.Uint16(frame[12:14]); et != etherTypeIPv6 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: ethertype %#04x is not IPv6: %w", what, et, ErrMalformed)
	}
	if frame[6]&1 != 0 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: multicast Ethernet source: %w", what, ErrMalformed)
	}
	ip := frame[ethHeaderLen:]
	if ip[0]>>4 != 6 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: IP version %d: %w", what, ip[0]>>4, ErrMalformed)
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if plen > len(ip)-ipv6HeaderLen {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: payload length %d exceeds the frame: %w", what, plen, ErrMalformed)
	}
	if ip[6] != protoICMPv6 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: next header %d is not ICMPv6: %w", what, ip[6], ErrMalformed)
	}
	if ip[7] != ndpHopLimit {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: hop limit %d, want 255: %w", what, ip[7], ErrMalformed)
	}
	icmp = ip[ipv6HeaderLen : ipv6HeaderLen+plen]
	if len(icmp) < hdrLen {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: ICMPv6 length %d: %w", what, len(icmp), ErrMalformed)
	}
	if icmp[0] != typ || icmp[1] != 0 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: ICMPv6 type %d code %d: %w", what, icmp[0], icmp[1], ErrMalformed)
	}
	src = netip.AddrFrom16([16]byte(ip[8:24]))
	dst = netip.AddrFrom16([16]byte(ip[24:40]))
	// No host sends from a multicast, loopback or IPv4-mapped address (RFC 4291 §2.5.5.2):
	// such a source comes from a broken or hostile sender and gets no answer.
	if src.IsMulticast() || src.IsLoopback() || src.Is4In6() {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: source %v is no host's address: %w", what, src, ErrMalformed)
	}
	if icmp6Checksum(src, dst, icmp) != 0 {
		return nil, src, dst, fmt.Errorf("rawdhcp: %s: bad ICMPv6 checksum: %w", what, ErrMalformed)
	}
	for opts := icmp[hdrLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return nil, src, dst, fmt.Errorf("rawdhcp: %s: bad option length: %w", what, ErrMalformed)
		}
		opts = opts[int(opts[1])*8:]
	}
	return icmp, src, dst, nil
}

// RouterAdvert addresses one advertisement that PutRA writes.
type RouterAdvert struct {
	SrcMAC MAC        // our interface
	DstMAC MAC        // the client: the advertisement is a link-layer unicast
	Src    netip.Addr // our link-local address
	Dst    netip.Addr // the solicitation's source, or AllNodes when that was ::
}

// PutRA writes into buf (at least RAFrameLen bytes) the Ethernet frame of a router
// advertisement that ends iPXE's IPv6 wait and changes nothing else on the link: router
// lifetime 0 (no host takes the sender for a default router), managed and other-config
// flags clear (no DHCPv6 is asked for), no prefix, reachable and retransmit timers
// unspecified, and a source link-layer address option. The IPv6 hop limit is 255 and the
// ICMPv6 checksum is filled in. It returns buf[:RAFrameLen].
func PutRA(buf []byte, a *RouterAdvert) ([]byte, error) {
	if len(buf) < RAFrameLen {
		return nil, fmt.Errorf("rawdhcp: router advertisement needs a %d-byte buffer, got %d", RAFrameLen, len(buf))
	}
	if !a.Src.Is6() || !a.Src.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("rawdhcp: router advertisement source %v is not an IPv6 link-local address", a.Src)
	}
	if !a.Dst.Is6() || a.Dst.Is4In6() {
		return nil, fmt.Errorf("rawdhcp: router advertisement destination %v is not IPv6", a.Dst)
	}
	b := buf[:RAFrameLen]
	copy(b[0:6], a.DstMAC[:])
	copy(b[6:12], a.SrcMAC[:])
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)

	ip := b[ethHeaderLen:]
	binary.BigEndian.PutUint32(ip[0:4], 6<<28) // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(ip[4:6], raHeaderLen+slla6Len)
	ip[6] = protoICMPv6
	ip[7] = ndpHopLimit
	src, dst := a.Src.As16(), a.Dst.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])

	icmp := ip[ipv6HeaderLen:]
	clear(icmp[:raHeaderLen])
	icmp[0] = icmp6RA
	// Bytes 4..15 stay zero: cur hop limit unspecified, M=O=0, router lifetime 0, reachable
	// time and retransmit timer unspecified.
	opt := icmp[raHeaderLen:]
	opt[0], opt[1] = ndpOptSLLA, 1
	copy(opt[2:8], a.SrcMAC[:])
	binary.BigEndian.PutUint16(icmp[2:4], icmp6Checksum(a.Src, a.Dst, icmp))
	return b, nil
}

// LinkLocalFromMAC returns the modified-EUI-64 link-local address of mac (RFC 4291
// appendix A), what the kernel would give an interface with that MAC.
func LinkLocalFromMAC(mac MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff,
		12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

// icmp6Checksum is the ICMPv6 checksum over the IPv6 pseudo-header and msg (RFC 4443
// §2.3). Computed over a message whose checksum field holds a valid checksum, it is 0.
func icmp6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	var acc uint32
	acc = onesSum(acc, s[:])
	acc = onesSum(acc, d[:])
	acc += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + protoICMPv6
	acc = onesSum(acc, msg)
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return ^uint16(acc)
}

// onesSum adds b as big-endian 16-bit words (odd tail padded with zero) to acc, folding
// carries so that acc cannot overflow on any frame length.
func onesSum(acc uint32, b []byte) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		if acc > 0xffff0000 {
			acc = acc>>16 + acc&0xffff
		}
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

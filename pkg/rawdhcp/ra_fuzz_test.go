package rawdhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzParseRS feeds ParseRS (and ParseRA) arbitrary frames, seeded with the solicitations real iPXE sent
// (testdata/ra, also in testdata/fuzz/FuzzParseRS) and synthetic edge cases. Whatever it
// accepts must hold up: a router solicitation with hop limit 255 and a checksum that
// verifies, fields read from where the frame has them, and an answer PutRA can build.
func FuzzParseRS(f *testing.F) {
	for _, b := range goldenRS(f) {
		f.Add(b)
	}
	f.Add(makeRS(netip.IPv6Unspecified(), nil, nil, true))
	f.Add(makeRS(testCliLL, []byte{14, 1, 0, 0, 0, 0, 0, 0}, nil, true))
	f.Add(makeRS(testCliLL, []byte{1, 0}, nil, true))
	f.Add(routerRA(1800, 0x40, nil))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ra RouterAdvertInfo
		if err := ParseRA(frame, &ra); err == nil {
			icmp := frame[ethHeaderLen+ipv6HeaderLen:]
			if frame[ethHeaderLen+7] != 255 || icmp[0] != icmp6RA || !ra.Src.IsLinkLocalUnicast() || ra.Flags != icmp[5] {
				t.Fatalf("ParseRA accepted %+v", ra)
			}
		}
		var rs RouterSolicitation
		if err := ParseRS(frame, &rs); err != nil {
			return
		}
		ip := frame[ethHeaderLen:]
		plen := int(binary.BigEndian.Uint16(ip[4:6]))
		icmp := ip[ipv6HeaderLen : ipv6HeaderLen+plen]
		switch {
		case ip[7] != 255 || icmp[0] != icmp6RS || icmp[1] != 0:
			t.Fatalf("accepted hop limit %d type %d code %d", ip[7], icmp[0], icmp[1])
		case icmp6Checksum(rs.Src, rs.Dst, icmp) != 0:
			t.Fatal("accepted a bad checksum")
		case !bytes.Equal(rs.SrcMAC[:], frame[6:12]) || !bytes.Equal(rs.DstMAC[:], frame[0:6]):
			t.Fatal("MACs not from the Ethernet header")
		case rs.Src.IsUnspecified() && rs.HasSLLA:
			t.Fatal("SLLA from the unspecified address")
		case rs.Src.IsMulticast() || rs.SrcMAC[0]&1 != 0:
			t.Fatal("multicast source accepted")
		case rs.Src.IsLoopback() || rs.Src.Is4In6():
			t.Fatalf("source %v accepted", rs.Src)
		}
		dst := rs.Src
		if dst.IsUnspecified() {
			dst = AllNodes
		}
		var buf [RAFrameLen]byte
		if _, err := PutRA(buf[:], &RouterAdvert{SrcMAC: testSrvMAC, DstMAC: rs.SrcMAC, Src: testSrvLL, Dst: dst}); err != nil {
			t.Fatalf("PutRA for an accepted solicitation: %v", err)
		}
	})
}

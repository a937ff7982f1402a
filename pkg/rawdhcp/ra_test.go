package rawdhcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var (
	testSrvMAC = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	testCliMAC = MAC{0x52, 0x54, 0x00, 0x70, 0x46, 0x10}
	testSrvLL  = netip.MustParseAddr("fe80::ff:fe10:1")
	testCliLL  = netip.MustParseAddr("fe80::5054:ff:fe70:4610")
)

// goldenRS returns the router solicitations real iPXE sent in QEMU (tests/e2e
// TestIPXERouterAdvert* with -update wrote them).
func goldenRS(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "ra", "*-rs.frame"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden router solicitations in testdata/ra: %v", err)
	}
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(n)] = b
	}
	return m
}

// makeRS builds an RS frame from src with the given options and fixes its checksum;
// tweak runs on the frame before the checksum is computed, fix says whether to compute it.
func makeRS(src netip.Addr, opts []byte, tweak func(f []byte), fix bool) []byte {
	f := make([]byte, ethHeaderLen+ipv6HeaderLen+rsHeaderLen+len(opts))
	copy(f[0:6], []byte{0x33, 0x33, 0, 0, 0, 2})
	copy(f[6:12], testCliMAC[:])
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv6)
	ip := f[ethHeaderLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(rsHeaderLen+len(opts)))
	ip[6], ip[7] = protoICMPv6, 255
	s, d := src.As16(), netip.MustParseAddr("ff02::2").As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	icmp6 := ip[ipv6HeaderLen:]
	icmp6[0] = icmp6RS
	copy(icmp6[rsHeaderLen:], opts)
	if tweak != nil {
		tweak(f)
	}
	if fix {
		icmp6[2], icmp6[3] = 0, 0
		src := netip.AddrFrom16([16]byte(ip[8:24]))
		dst := netip.AddrFrom16([16]byte(ip[24:40]))
		n := int(binary.BigEndian.Uint16(ip[4:]))
		n = min(n, len(ip)-ipv6HeaderLen)
		binary.BigEndian.PutUint16(icmp6[2:], icmp6Checksum(src, dst, ip[ipv6HeaderLen:ipv6HeaderLen+n]))
	}
	return f
}

func sllaOpt(m MAC) []byte { return append([]byte{ndpOptSLLA, 1}, m[:]...) }

func TestParseRSGolden(t *testing.T) {
	for name, f := range goldenRS(t) {
		t.Run(name, func(t *testing.T) {
			var rs RouterSolicitation
			if err := ParseRS(f, &rs); err != nil {
				t.Fatalf("ParseRS: %v", err)
			}
			if rs.SrcMAC != MAC(f[6:12]) || rs.DstMAC != (MAC{0x33, 0x33, 0, 0, 0, 2}) {
				t.Errorf("MACs %v → %v", rs.SrcMAC, rs.DstMAC)
			}
			if rs.Dst != netip.MustParseAddr("ff02::2") {
				t.Errorf("dst %v, want ff02::2", rs.Dst)
			}
			// iPXE solicits from its EUI-64 link-local address with its MAC in the option.
			if rs.Src != LinkLocalFromMAC(rs.SrcMAC) || !rs.HasSLLA || rs.SLLA != rs.SrcMAC {
				t.Errorf("src %v slla %v/%v for MAC %v", rs.Src, rs.SLLA, rs.HasSLLA, rs.SrcMAC)
			}
		})
	}
}

func TestParseRS(t *testing.T) {
	good := makeRS(testCliLL, sllaOpt(testCliMAC), nil, true)
	cases := []struct {
		name string
		f    []byte
		ok   bool
		slla bool
	}{
		{"with SLLA", good, true, true},
		{"no options", makeRS(testCliLL, nil, nil, true), true, false},
		{"unspecified source, no SLLA", makeRS(netip.IPv6Unspecified(), nil, nil, true), true, false},
		{"unknown option skipped", makeRS(testCliLL, append([]byte{14, 1, 0, 0, 0, 0, 0, 0}, sllaOpt(testCliMAC)...), nil, true), true, true},
		{"trailing bytes after the payload", append(bytes.Clone(good), 0, 0, 0, 0), true, true},
		{"unspecified source with SLLA", makeRS(netip.IPv6Unspecified(), sllaOpt(testCliMAC), nil, true), false, false},
		{"IPv4-mapped source", makeRS(netip.MustParseAddr("::ffff:10.0.0.1"), nil, nil, true), false, false},
		{"loopback source", makeRS(netip.IPv6Loopback(), nil, nil, true), false, false},
		{"short", good[:ethHeaderLen+ipv6HeaderLen+4], false, false},
		{"empty", nil, false, false},
		{"IPv4 ethertype", makeRS(testCliLL, nil, func(f []byte) { f[12], f[13] = 0x08, 0x00 }, true), false, false},
		{"IP version 4", makeRS(testCliLL, nil, func(f []byte) { f[14] = 0x45 }, true), false, false},
		{"hop limit 254", makeRS(testCliLL, nil, func(f []byte) { f[14+7] = 254 }, true), false, false},
		{"next header hop-by-hop", makeRS(testCliLL, nil, func(f []byte) { f[14+6] = 0 }, true), false, false},
		{"payload length beyond frame", makeRS(testCliLL, nil, func(f []byte) { f[14+5] = 200 }, false), false, false},
		{"payload length below RS header", makeRS(testCliLL, nil, func(f []byte) { f[14+5] = 4 }, true), false, false},
		{"bad checksum", makeRS(testCliLL, nil, func(f []byte) { f[14+40+2] ^= 0xff }, false), false, false},
		{"advertisement type", makeRS(testCliLL, nil, func(f []byte) { f[14+40] = icmp6RA }, true), false, false},
		{"code 1", makeRS(testCliLL, nil, func(f []byte) { f[14+41] = 1 }, true), false, false},
		{"option length 0", makeRS(testCliLL, []byte{1, 0, 0, 0, 0, 0, 0, 0}, nil, true), false, false},
		{"option beyond payload", makeRS(testCliLL, []byte{1, 2, 0, 0, 0, 0, 0, 0}, nil, true), false, false},
		{"one-byte option tail", makeRS(testCliLL, []byte{1}, nil, true), false, false},
		{"multicast IPv6 source", makeRS(netip.MustParseAddr("ff02::1"), nil, nil, true), false, false},
		{"multicast Ethernet source", makeRS(testCliLL, nil, func(f []byte) { f[6] |= 1 }, true), false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rs RouterSolicitation
			err := ParseRS(c.f, &rs)
			if (err == nil) != c.ok {
				t.Fatalf("ParseRS err = %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if rs.SrcMAC != testCliMAC || rs.HasSLLA != c.slla || (c.slla && rs.SLLA != testCliMAC) {
				t.Errorf("got %+v", rs)
			}
		})
	}
}

// TestPutRA checks the advertisement against golang.org/x/net's ICMPv6 encoder (an
// independent checksum and layout) and field by field.
func TestPutRA(t *testing.T) {
	for _, dst := range []netip.Addr{testCliLL, AllNodes} {
		var buf [RAFrameLen + 10]byte
		f, err := PutRA(buf[:], &RouterAdvert{SrcMAC: testSrvMAC, DstMAC: testCliMAC, Src: testSrvLL, Dst: dst})
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != RAFrameLen || &f[0] != &buf[0] {
			t.Fatalf("PutRA returned %d bytes (not a prefix of buf)", len(f))
		}
		if !bytes.Equal(f[0:6], testCliMAC[:]) || !bytes.Equal(f[6:12], testSrvMAC[:]) || binary.BigEndian.Uint16(f[12:]) != 0x86dd {
			t.Errorf("Ethernet header % x", f[:14])
		}
		ip := f[14:]
		if ip[0] != 0x60 || ip[1] != 0 || ip[6] != 58 || ip[7] != 255 || binary.BigEndian.Uint16(ip[4:]) != 24 {
			t.Errorf("IPv6 header % x", ip[:8])
		}
		if netip.AddrFrom16([16]byte(ip[8:24])) != testSrvLL || netip.AddrFrom16([16]byte(ip[24:40])) != dst {
			t.Errorf("IPv6 addresses % x", ip[8:40])
		}
		// After type, code and checksum: cur hop limit, flags, router lifetime, reachable
		// time and retransmit timer all zero, then the source link-layer address option.
		body := append(make([]byte, 12), sllaOpt(testSrvMAC)...)
		want, err := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Code: 0, Body: &icmp.RawBody{Data: body}}).
			Marshal(icmp.IPv6PseudoHeader(testSrvLL.AsSlice(), dst.AsSlice()))
		if err != nil {
			t.Fatal(err)
		}
		if got := ip[40:]; !bytes.Equal(got, want) {
			t.Errorf("ICMPv6 message\n got % x\nwant % x", got, want)
		}
		m, err := icmp.ParseMessage(58, ip[40:])
		if err != nil || m.Type != ipv6.ICMPTypeRouterAdvertisement {
			t.Errorf("x/net/icmp parses %v, %v", m, err)
		}
	}
}

func TestPutRAErrors(t *testing.T) {
	var buf [RAFrameLen]byte
	for _, c := range []struct {
		name string
		buf  []byte
		a    RouterAdvert
	}{
		{"short buffer", buf[:RAFrameLen-1], RouterAdvert{Src: testSrvLL, Dst: testCliLL}},
		{"global source", buf[:], RouterAdvert{Src: netip.MustParseAddr("2001:db8::1"), Dst: testCliLL}},
		{"IPv4 source", buf[:], RouterAdvert{Src: netip.MustParseAddr("10.0.0.1"), Dst: testCliLL}},
		{"IPv4 destination", buf[:], RouterAdvert{Src: testSrvLL, Dst: netip.MustParseAddr("10.0.0.2")}},
		{"no destination", buf[:], RouterAdvert{Src: testSrvLL}},
	} {
		if _, err := PutRA(c.buf, &c.a); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// The advertisement PutRA writes is a valid solicitation's mirror: ParseRS refuses it (type
// 134), but with the type changed it parses, which checks checksum and layout once more.
func TestPutRAParsesAsNDP(t *testing.T) {
	var buf [RAFrameLen]byte
	f, err := PutRA(buf[:], &RouterAdvert{SrcMAC: testSrvMAC, DstMAC: testCliMAC, Src: testSrvLL, Dst: testCliLL})
	if err != nil {
		t.Fatal(err)
	}
	var rs RouterSolicitation
	if err := ParseRS(f, &rs); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseRS of an advertisement: %v", err)
	}
	if icmp6Checksum(testSrvLL, testCliLL, f[14+40:]) != 0 {
		t.Errorf("checksum does not verify")
	}
}

// routerRA is an advertisement from a real router: PutRA's frame with the router lifetime,
// flags and options changed, and the checksum fixed.
func routerRA(lifetime uint16, flags byte, opts []byte) []byte {
	var buf [RAFrameLen]byte
	f, _ := PutRA(buf[:], &RouterAdvert{SrcMAC: testCliMAC, DstMAC: MAC{0x33, 0x33, 0, 0, 0, 1}, Src: testCliLL, Dst: AllNodes})
	f = append(bytes.Clone(f), opts...)
	ip := f[14:]
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
	icmp := ip[40:]
	icmp[5] = flags
	binary.BigEndian.PutUint16(icmp[6:], lifetime)
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], icmp6Checksum(testCliLL, AllNodes, icmp))
	return f
}

func TestParseRA(t *testing.T) {
	prefix := make([]byte, 32)
	prefix[0], prefix[1], prefix[2] = ndpOptPrefix, 4, 64
	cases := []struct {
		name string
		f    []byte
		want RouterAdvertInfo
		ok   bool
	}{
		{"pxe-edge's own", routerRA(0, 0, nil), RouterAdvertInfo{SrcMAC: testCliMAC, Src: testCliLL}, true},
		{"default router with a prefix", routerRA(1800, 0, prefix), RouterAdvertInfo{SrcMAC: testCliMAC, Src: testCliLL, Lifetime: 1800, Prefixes: 1}, true},
		{"DHCPv6 managed", routerRA(0, 0x80, nil), RouterAdvertInfo{SrcMAC: testCliMAC, Src: testCliLL, Flags: 0x80}, true},
		{"solicitation", makeRS(testCliLL, nil, nil, true), RouterAdvertInfo{}, false},
		{"bad checksum", func() []byte { f := routerRA(1800, 0, nil); f[14+40+2]++; return f }(), RouterAdvertInfo{}, false},
		{"short", routerRA(0, 0, nil)[:14+40+10], RouterAdvertInfo{}, false},
		{"truncated prefix option", routerRA(1800, 0, prefix[:16]), RouterAdvertInfo{}, false},
	}
	for _, c := range cases {
		var got RouterAdvertInfo
		err := ParseRA(c.f, &got)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if c.ok && got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestLinkLocalFromMAC(t *testing.T) {
	for mac, want := range map[MAC]string{
		{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}: "fe80::5054:ff:fe12:3456",
		{0x00, 0x00, 0x00, 0x00, 0x00, 0x00}: "fe80::200:ff:fe00:0",
		{0x02, 0xff, 0xff, 0xff, 0xff, 0xff}: "fe80::ff:ffff:feff:ffff",
	} {
		if got := LinkLocalFromMAC(mac); got.String() != want {
			t.Errorf("%v: %v, want %s", mac, got, want)
		}
	}
}

func TestRACodecDoesNotAllocate(t *testing.T) {
	f := makeRS(testCliLL, sllaOpt(testCliMAC), nil, true)
	var rs RouterSolicitation
	var buf [RAFrameLen]byte
	a := RouterAdvert{SrcMAC: testSrvMAC, DstMAC: testCliMAC, Src: testSrvLL, Dst: testCliLL}
	if n := testing.AllocsPerRun(100, func() {
		if err := ParseRS(f, &rs); err != nil {
			t.Fatal(err)
		}
		if _, err := PutRA(buf[:], &a); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per solicitation and advertisement", n)
	}
}

func BenchmarkParseRSPutRA(b *testing.B) {
	f := makeRS(testCliLL, sllaOpt(testCliMAC), nil, true)
	var rs RouterSolicitation
	var buf [RAFrameLen]byte
	a := RouterAdvert{SrcMAC: testSrvMAC, DstMAC: testCliMAC, Src: testSrvLL, Dst: testCliLL}
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseRS(f, &rs)
		_, _ = PutRA(buf[:], &a)
	}
}

package rawdhcp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// TestIPv4UDPRoundTrip builds datagrams of several sizes (odd ones exercise the checksum's
// trailing byte) and parses them back; tshark checks the same checksums in the namespace
// tests.
func TestIPv4UDPRoundTrip(t *testing.T) {
	h := IPv4UDP{
		Src: netip.MustParseAddrPort("10.30.0.1:67"),
		Dst: netip.MustParseAddrPort("10.30.1.50:68"),
		ID:  0x1234,
	}
	for _, n := range []int{0, 1, 300, 1471} {
		payload := bytes.Repeat([]byte{0xa5}, n)
		pkt, err := AppendIPv4UDP([]byte{0xee}, h, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, p, err := ParseIPv4UDP(append(pkt[1:], 0, 0, 0)) // trailing Ethernet padding
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if got.Src != h.Src || got.Dst != h.Dst || got.TTL != 64 || got.ID != 0x1234 || !bytes.Equal(p, payload) {
			t.Errorf("%d: got %+v, %d bytes", n, got, len(p))
		}
	}
}

// TestIPv4HeaderChecksumKnown checks the header checksum against a value computed by hand
// for a fixed header (the well-known Wikipedia example header 4500 0073 0000 4000 4011 ….
// c0a8 0001 c0a8 00c7 has checksum b861).
func TestIPv4HeaderChecksumKnown(t *testing.T) {
	hdr := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if c := ^fold(sum(0, hdr)); c != 0xb861 {
		t.Fatalf("checksum %#04x, want 0xb861", c)
	}
}

func TestParseIPv4UDPMalformed(t *testing.T) {
	h := IPv4UDP{Src: netip.MustParseAddrPort("10.30.0.2:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	good, err := AppendIPv4UDP(nil, h, []byte("hello dhcp"))
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	for name, b := range map[string][]byte{
		"short":        good[:19],
		"version":      mut(func(b []byte) { b[0] = 0x65 }),
		"ip checksum":  mut(func(b []byte) { b[10]++ }),
		"udp checksum": mut(func(b []byte) { b[len(b)-1]++ }),
		"total length": good[:len(good)-1],
		"fragment": mut(func(b []byte) {
			b[6] = 0x20
			b[10], b[11] = 0, 0
			c := ^fold(sum(0, b[:20]))
			b[10], b[11] = byte(c>>8), byte(c)
		}),
		"udp length": mut(func(b []byte) { b[25] = 200 }),
	} {
		if _, _, err := ParseIPv4UDP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// UDP checksum 0 means "not computed" and is accepted.
	b := mut(func(b []byte) { b[26], b[27] = 0, 0; b[len(b)-1]++ })
	if _, _, err := ParseIPv4UDP(b); err != nil {
		t.Errorf("zero UDP checksum: %v", err)
	}
}

package dhcpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// inside reports whether sub lies within b.
func inside(sub, b []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	s, p := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&sub[0]))
	return p >= s && p+uintptr(len(sub)) <= s+uintptr(len(b))
}

// FuzzParseUDP4: the side sockets' IPv4/UDP reader never panics, never returns a payload
// outside its input, and reads what the strict rawdhcp parser reads whenever that one
// accepts the packet.
func FuzzParseUDP4(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, sport, dport, payload, ok := parseUDP4(b)
		if !ok {
			if h, p, err := rawdhcp.ParseIPv4UDP(b); err == nil {
				t.Fatalf("strict parser accepts %v → %v (%d bytes), parseUDP4 does not", h.Src, h.Dst, len(p))
			}
			return
		}
		if !inside(payload, b) {
			t.Fatal("payload outside input")
		}
		if h, p, err := rawdhcp.ParseIPv4UDP(b); err == nil {
			if h.Src != netip.AddrPortFrom(src, sport) || h.Dst != netip.AddrPortFrom(dst, dport) || !bytes.Equal(p, payload) {
				t.Fatalf("parsers disagree: %v→%v %d bytes vs %v:%d→%v:%d %d bytes", h.Src, h.Dst, len(p), src, sport, dst, dport, len(payload))
			}
		}
	})
}

// FuzzARPSender: the ARP reader accepts exactly requests and replies of at least 28 bytes
// and reads the sender's address from its place.
func FuzzARPSender(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		sender, ok := arpSender(b)
		want := len(b) >= 28 && (binary.BigEndian.Uint16(b[6:8]) == 1 || binary.BigEndian.Uint16(b[6:8]) == 2)
		if ok != want {
			t.Fatalf("accepted %v, want %v", ok, want)
		}
		if ok && sender != netip.AddrFrom4([4]byte(b[14:18])) {
			t.Fatalf("sender %v", sender)
		}
	})
}

// FuzzPyPXELeases: the --save-leases loader never panics, adopts only addresses the
// server may give (pool or the MAC's reservation), keeps the table consistent, commits
// every adopted lease, and adopts nothing the second time.
func FuzzPyPXELeases(f *testing.F) {
	cfg := testConfig()
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newMemStore()
		c := cfg
		c.Store = st
		s, _ := newTestServer(t, c)
		n, err := s.adoptPyPXELeases(context.Background(), data)
		if err != nil && n != 0 {
			t.Fatalf("%d adopted and error %v", n, err)
		}
		if len(st.leases) != n || len(s.pool.byIP) != n {
			t.Fatalf("%d adopted, %d committed, %d in the table", n, len(st.leases), len(s.pool.byIP))
		}
		for ip, b := range s.pool.byIP {
			_, reserved := s.pool.reserved[ip]
			if b.ip != ip || s.pool.byID[b.id] != b || b.state != stBound || !s.pool.inRange(ip) && !reserved {
				t.Fatalf("row %v: %+v", a4(ip), b)
			}
			if l, ok := st.leases[a4(ip)]; !ok || [6]byte(l.MAC) != b.mac || !l.Expiry.Equal(b.expires) {
				t.Fatalf("committed %+v for row %+v", l, b)
			}
		}
		if again, _ := s.adoptPyPXELeases(context.Background(), data); again != 0 {
			t.Fatalf("second load adopted %d", again)
		}
	})
}

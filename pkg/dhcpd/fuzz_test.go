package dhcpd

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// FuzzHandle feeds arbitrary decoded messages to the handler in both modes and on both
// ports: it must not panic, and every reply must encode, decode again, fit the client's
// size limit and carry 53 and 54.
func FuzzHandle(f *testing.F) {
	seed := func(m *rawdhcp.Message) {
		b, err := m.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	seed(request(rawdhcp.Discover, mac(1), withPRL(1, 3, 6, 15, 28, 12, 43, 60, 66, 67)))
	seed(request(rawdhcp.Discover, mac(2), withPXE(0)))
	seed(request(rawdhcp.Discover, mac(3), withPXE(7), func(m *rawdhcp.Message) { m.SetRelayAgentInfo([]byte{1, 2, 3, 4}) }))
	seed(request(rawdhcp.Request, mac(4), withServerID(tServer), withRequested("10.40.0.101")))
	seed(request(rawdhcp.Request, mac(5), withCIAddr("10.40.0.102")))
	seed(request(rawdhcp.Decline, mac(6), withRequested("10.40.0.103")))
	seed(request(rawdhcp.Release, mac(7), withCIAddr("10.40.0.104")))
	seed(request(rawdhcp.Inform, mac(8), withCIAddr("10.40.0.20")))
	seed(request(rawdhcp.Request, mac(9), withPXE(11), withCIAddr("10.40.0.9"), func(m *rawdhcp.Message) { m.SetMaxMessageSize(576) }))

	cfg := testConfig()
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50","rom":"x.efi","hostname":"h"}}}}`))
	full, clk := newTestServer(f, cfg)
	cfg.Mode = ModeProxy
	proxy, _ := newTestServer(f, cfg)
	var req, resp, back rawdhcp.Message
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		if req.Decode(b) != nil {
			return
		}
		s := full
		if sel&1 != 0 {
			s = proxy
		}
		port := uint16(67)
		if sel&2 != 0 {
			port = 4011
		}
		clk.Add(time.Duration(sel) * time.Second)
		r := s.Handle(context.Background(), &req, port, &resp)
		if r == NoReply {
			return
		}
		out, err := resp.Append(nil)
		if err != nil {
			t.Fatalf("reply %v does not encode: %v", r, err)
		}
		if err := back.Decode(out); err != nil {
			t.Fatalf("reply %v does not decode: %v", r, err)
		}
		if _, ok := back.MessageType(); !ok {
			t.Fatal("reply without option 53")
		}
		if sid, ok := back.ServerID(); !ok || sid != tServer {
			t.Fatal("reply without our option 54")
		}
		if back.Op != rawdhcp.BootReply || back.XID != req.XID || back.CHAddr != req.CHAddr {
			t.Fatal("header not copied")
		}
		_, echo82 := req.RelayAgentInfo()
		_, echo97 := req.ClientMachineID()
		if len(out)+28 > req.ReplyLimit() && !echo82 && !echo97 {
			// Only what the client makes us echo (82, 97) can push a reply past its limit.
			t.Fatalf("reply of %d bytes exceeds the client's %d", len(out)+28, req.ReplyLimit())
		}
		if r == ReplyOffer || r == ReplyAck {
			if !s.cfg.Subnet.Contains(resp.YIAddr) || resp.YIAddr == tServer {
				t.Fatalf("gave %v", resp.YIAddr)
			}
			if _, ok := back.LeaseTime(); !ok {
				t.Fatal("OFFER/ACK without a lease time")
			}
		}
		if r == ReplyProxyOffer && resp.YIAddr != netip.IPv4Unspecified() {
			t.Fatal("proxy offer with an address")
		}
	})
}

// FuzzParseReservations: the static-config parser never panics, and what it accepts is
// consistent (every reservation found by its MAC, addresses unique).
func FuzzParseReservations(f *testing.F) {
	f.Add([]byte(`{"dhcp":{"binding":{"5C:9A:D8:5E:F2:E5":{"ipaddr":"10.40.0.123","subnet":"255.255.255.0","router":"10.40.0.1","dns":["8.8.8.8"],"rom":"pxelinux.0"}}}}`))
	f.Add([]byte(`{"dhcp":{"binding":{"02-00-00-00-00-01":{"ipaddr":"10.40.0.5","hostname":"a"}}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReservations(b)
		if err != nil {
			return
		}
		seen := map[netip.Addr]bool{}
		for _, e := range r.list() {
			if !e.IP.Is4() || seen[e.IP] {
				t.Fatalf("accepted %v twice or not IPv4", e.IP)
			}
			seen[e.IP] = true
			if got, ok := r.Lookup(e.MAC); !ok || got.IP != e.IP {
				t.Fatal("lookup mismatch")
			}
		}
	})
}

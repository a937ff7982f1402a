package dhcpd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// TestLeaseView: the snapshot is shared while nothing changes, rebuilt after a change or
// when a lease in it runs out, and agrees with the per-address lookup.
func TestLeaseView(t *testing.T) {
	s, clk := newTestServer(t, testConfig())
	ip := dora(t, s, mac(1))
	a := s.Leases()
	if len(a) != 1 || a[0].IP != ip || a[0].State != "bound" || a[0].MACText != "02:00:00:00:00:01" {
		t.Fatalf("leases %+v", a)
	}
	if b := s.Leases(); &b[0] != &a[0] {
		t.Error("unchanged table rebuilt")
	}
	if l, ok := s.Lease(ip); !ok || l.IP != a[0].IP || l.MACText != a[0].MACText || l.State != a[0].State || !l.Expires.Equal(a[0].Expires) {
		t.Errorf("Lease(%v) = %+v, %v; Leases has %+v", ip, l, ok, a[0])
	}
	if _, ok := s.Lease(netip.MustParseAddr("10.40.0.200")); ok {
		t.Error("lease for an address nobody holds")
	}
	// A change: a second client's offer.
	do(t, s, request(rawdhcp.Discover, mac(2)), 67)
	b := s.Leases()
	if len(b) != 2 || b[0].IP.Compare(b[1].IP) >= 0 {
		t.Fatalf("after an offer: %+v", b)
	}
	// No change but time: the lease runs out.
	clk.Add(2 * time.Hour)
	c := s.Leases()
	for _, l := range c {
		if l.IP == ip && l.State != "expired" {
			t.Errorf("lease past its expiry shows %q", l.State)
		}
	}
	if l, _ := s.Lease(ip); l.State != "expired" {
		t.Errorf("Lease: %q", l.State)
	}
}

// BenchmarkLeasesUnchanged is an observer's cost of reading a table of 5 000 leases that
// did not change since the last read.
func BenchmarkLeasesUnchanged(b *testing.B) {
	s, _ := newTestServer(b, benchConfig())
	disc, req := benchMessages()
	var resp rawdhcp.Message
	for i := range 5000 {
		doraOnce(b, s, benchMAC(i), disc, req, &resp)
	}
	s.Leases()
	b.ReportAllocs()
	for b.Loop() {
		s.Leases()
	}
}

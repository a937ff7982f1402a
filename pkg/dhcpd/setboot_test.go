package dhcpd

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// SetBoot swaps the boot configuration in place: the next reply carries the new boot file,
// while the lease table, the reservations and the mode stay.
func TestSetBootKeepsLeases(t *testing.T) {
	cfg := testConfig()
	cfg.Boot.ArchFiles = map[uint16]string{7: "first.efi"}
	resv, err := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:21":{"ipaddr":"10.40.0.50"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reservations = resv
	s, _ := newTestServer(t, cfg)
	m := mac(0x20)
	ip := dora(t, s, m)
	_, off := do(t, s, request(rawdhcp.Discover, m, withPXE(7)), 67)
	if got := string(off.BootFileName()); got != "first.efi" {
		t.Fatalf("before SetBoot: boot file %q", got)
	}

	nb := s.Boot()
	nb.ArchFiles = map[uint16]string{7: "second.efi"}
	s.SetBoot(nb)

	r, off := do(t, s, request(rawdhcp.Discover, m, withPXE(7)), 67)
	if r != ReplyOffer || off.YIAddr != ip {
		t.Fatalf("after SetBoot: %v %v, want an OFFER of the client's lease %v", r, off.YIAddr, ip)
	}
	if got := string(off.BootFileName()); got != "second.efi" {
		t.Fatalf("after SetBoot: boot file %q, want second.efi", got)
	}
	if _, off := do(t, s, request(rawdhcp.Discover, mac(0x21)), 67); off.YIAddr != netip.MustParseAddr("10.40.0.50") {
		t.Fatalf("reservation lost across SetBoot: offered %v", off.YIAddr)
	}
	found := false
	for _, l := range s.Leases() {
		if l.IP == ip && l.State == "bound" {
			found = true
		}
	}
	if !found {
		t.Fatalf("lease %v gone after SetBoot: %+v", ip, s.Leases())
	}
}

// SetBoot while requests are answered is safe (run with -race).
func TestSetBootConcurrent(t *testing.T) {
	s, _ := newTestServer(t, testConfig())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			b := s.Boot()
			b.NetbootFile = []string{"a.0", "b.0"}[i%2]
			s.SetBoot(b)
		}
	}()
	for i := range 200 {
		var resp rawdhcp.Message
		s.Handle(t.Context(), request(rawdhcp.Discover, mac(byte(i)), withPXE(0)), 67, &resp)
	}
	wg.Wait()
	if f := s.Boot().NetbootFile; f != "b.0" {
		t.Fatalf("last SetBoot lost: %q", f)
	}
}

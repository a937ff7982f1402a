package dhcpd

import (
	"net/netip"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// TestRestartWithLeaseStore uses the real pkg/lease store: every ACKed lease is on disk
// when the ACK is returned, and a new server on the reopened store offers every client its
// address again, keeps declined addresses out and reclaims nothing early.
func TestRestartWithLeaseStore(t *testing.T) {
	dir := t.TempDir()
	st, _, err := lease.Open(dir, lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	want := map[[6]byte]netip.Addr{}
	for i := range 5 {
		m := mac(byte(0x10 + i))
		want[m] = dora(t, s, m)
		// Durable before the ACK left: the store already has it, bound.
		if l, ok := st.ByIP(want[m]); !ok || l.State != lease.Bound {
			t.Fatalf("lease %v not in the store after its ACK: %+v", want[m], l)
		}
	}
	declined := dora(t, s, mac(0x20))
	do(t, s, request(rawdhcp.Decline, mac(0x20), withServerID(tServer), withRequested(declined.String())), 67)
	s.Close()
	// Simulate a crash: no Close of the store, just reopen the directory in a new store.
	// (Close would only flush touches; commits are already durable.)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, rep, err := lease.Open(dir, lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if rep.Damaged() {
		t.Fatalf("store damaged: %+v", rep)
	}
	cfg.Store = st2
	s2, _ := newTestServer(t, cfg)
	for m, ip := range want {
		if _, o := do(t, s2, request(rawdhcp.Discover, m), 67); o.YIAddr != ip {
			t.Fatalf("%x: offered %v after restart, want %v", m, o.YIAddr, ip)
		}
	}
	for i := range 10 {
		if _, o := do(t, s2, request(rawdhcp.Discover, mac(byte(0x40+i))), 67); o.YIAddr == declined {
			t.Fatalf("declined %v offered after restart", declined)
		}
	}
}

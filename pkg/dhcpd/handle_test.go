package dhcpd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

func TestDORAAndDurableBeforeAck(t *testing.T) {
	cfg := testConfig()
	st := newMemStore()
	cfg.Store = st
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(16)
	defer cancel()
	cfg.Bus = bus
	s, _ := newTestServer(t, cfg)
	ip := dora(t, s, mac(1))
	if !s.cfg.Subnet.Contains(ip) || !s.addr.pool.inRange(u32(ip)) {
		t.Fatalf("leased %v outside the pool", ip)
	}
	l, ok := st.leases[ip]
	if !ok || l.State != lease.Bound || l.MAC.String() != "02:00:00:00:00:01" {
		t.Fatalf("store after ACK: %+v %v", l, ok)
	}
	var kinds []string
	for len(ch) > 0 {
		e := <-ch
		kinds = append(kinds, e.Kind.String()+":"+e.Msg)
	}
	if got := strings.Join(kinds, " "); got != "dhcp:OFFER lease:granted dhcp:ACK" {
		t.Fatalf("events %q", got)
	}
	// A failing store means no ACK.
	st.fail = errors.New("disk gone")
	r, off := do(t, s, request(rawdhcp.Discover, mac(2)), 67)
	if r != ReplyOffer {
		t.Fatal(r)
	}
	r, _ = do(t, s, request(rawdhcp.Request, mac(2), withServerID(tServer), withRequested(off.YIAddr.String())), 67)
	if r != NoReply || s.Stats().CommitErrors != 1 {
		t.Fatalf("ACK sent without a durable lease: %v", r)
	}
}

// While the lease store cannot write (a full disk), a new client is offered nothing (its
// REQUEST could only be refused), a client holding a lease renews, a reserved client is still
// offered its address; once the store writes again, new clients get offers.
func TestStoreDegradedNewClientsWait(t *testing.T) {
	cfg := testConfig()
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	st := newMemStore()
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	held := dora(t, s, mac(1))
	st.health = lease.Health{Degraded: true, Err: lease.ErrNoSpace}

	if r, _ := do(t, s, request(rawdhcp.Discover, mac(2)), 67); r != NoReply {
		t.Fatalf("new client while the store cannot write: %v, want no reply", r)
	}
	if s.Stats().StoreFull != 1 {
		t.Fatalf("StoreFull = %d, want 1", s.Stats().StoreFull)
	}
	r, ack := do(t, s, request(rawdhcp.Request, mac(1), withRequested(held.String())), 67)
	if r != ReplyAck || ack.YIAddr != held {
		t.Fatalf("renewal while the store cannot write: %v %v, want ACK %v", r, ack.YIAddr, held)
	}
	if r, off := do(t, s, request(rawdhcp.Discover, mac(9)), 67); r != ReplyOffer || off.YIAddr != netip.MustParseAddr("10.40.0.50") {
		t.Fatalf("reserved client while the store cannot write: %v %v", r, off.YIAddr)
	}

	st.health = lease.Health{}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(2)), 67); r != ReplyOffer {
		t.Fatalf("new client once the store writes again: %v, want OFFER", r)
	}
}

// The NBD root path (option 17) goes only to a client that asks for it.
func TestRootPathOnRequest(t *testing.T) {
	cfg := testConfig()
	cfg.RootPath = "10.40.0.1:10809/root.img"
	s, _ := newTestServer(t, cfg)
	r, off := do(t, s, request(rawdhcp.Discover, mac(1), withPRL(rawdhcp.OptSubnetMask, rawdhcp.OptRootPath)), 67)
	if v, ok := off.Options.Get(rawdhcp.OptRootPath); r != ReplyOffer || !ok || string(v) != cfg.RootPath {
		t.Fatalf("asked for 17: %v %q %v", r, v, ok)
	}
	r, off = do(t, s, request(rawdhcp.Discover, mac(2), withPRL(rawdhcp.OptSubnetMask)), 67)
	if _, ok := off.Options.Get(rawdhcp.OptRootPath); r != ReplyOffer || ok {
		t.Fatalf("did not ask for 17 and got it: %v", r)
	}
}

func TestAddressChoiceOrder(t *testing.T) {
	cfg := testConfig()
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	s, _ := newTestServer(t, cfg)

	// The MAC hash is stable: the same MAC gets the same first offer on a fresh server.
	s2, _ := newTestServer(t, testConfig())
	_, o1 := do(t, s, request(rawdhcp.Discover, mac(1)), 67)
	_, o2 := do(t, s2, request(rawdhcp.Discover, mac(1)), 67)
	hashIP := a4(s.addr.pool.begin + macHash(mac(1))%uint32(s.addr.pool.size()))
	if o1.YIAddr != o2.YIAddr || o1.YIAddr != hashIP {
		t.Fatalf("hash choice: %v, %v, want %v", o1.YIAddr, o2.YIAddr, hashIP)
	}
	// The current binding wins over a different requested address.
	_, o := do(t, s, request(rawdhcp.Discover, mac(1), withRequested("10.40.0.101")), 67)
	if o.YIAddr != hashIP {
		t.Fatalf("current binding not kept: %v", o.YIAddr)
	}
	// A requested free address is honoured for a new client.
	_, o = do(t, s, request(rawdhcp.Discover, mac(3), withRequested("10.40.0.107")), 67)
	if o.YIAddr.String() != "10.40.0.107" {
		t.Fatalf("requested address not honoured: %v", o.YIAddr)
	}
	// A requested address held by someone else is not given; nor one outside the pool.
	_, o = do(t, s, request(rawdhcp.Discover, mac(4), withRequested("10.40.0.107")), 67)
	if o.YIAddr.String() == "10.40.0.107" {
		t.Fatal("offered an address already offered to another client")
	}
	_, o = do(t, s, request(rawdhcp.Discover, mac(5), withRequested("10.40.0.20")), 67)
	if !s.addr.pool.inRange(u32(o.YIAddr)) {
		t.Fatalf("offered %v outside the pool", o.YIAddr)
	}
	// A reservation wins over the requested address and lies outside the pool.
	_, o = do(t, s, request(rawdhcp.Discover, mac(9), withRequested("10.40.0.108")), 67)
	if o.YIAddr.String() != "10.40.0.50" {
		t.Fatalf("reservation: %v", o.YIAddr)
	}
	// Nobody else gets the reserved address, even when asking for it.
	_, o = do(t, s, request(rawdhcp.Discover, mac(6), withRequested("10.40.0.50")), 67)
	if o.YIAddr.String() == "10.40.0.50" {
		t.Fatal("reserved address offered to another MAC")
	}
}

func TestFirstFreeAfterHashCollision(t *testing.T) {
	cfg := testConfig()
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.103")
	s, _ := newTestServer(t, cfg)
	seen := map[netip.Addr]bool{}
	for i := range 4 {
		ip := dora(t, s, mac(byte(10+i)))
		if seen[ip] {
			t.Fatalf("address %v given twice", ip)
		}
		seen[ip] = true
	}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(20)), 67); r != NoReply {
		t.Fatalf("full pool answered a new client: %v", r)
	}
}

func TestExhaustionWarnsOnceAndServesExisting(t *testing.T) {
	cfg := testConfig()
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.101")
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, clk := newTestServer(t, cfg)
	a := dora(t, s, mac(1))
	dora(t, s, mac(2))
	for i := range 5 {
		if r, _ := do(t, s, request(rawdhcp.Discover, mac(byte(30+i))), 67); r != NoReply {
			t.Fatalf("exhausted pool answered: %v", r)
		}
	}
	if n := strings.Count(logs.String(), "pool exhausted"); n != 1 {
		t.Fatalf("%d exhaustion warnings, want 1:\n%s", n, logs.String())
	}
	clk.Add(2 * time.Minute)
	do(t, s, request(rawdhcp.Discover, mac(40)), 67)
	if n := strings.Count(logs.String(), "pool exhausted"); n != 2 {
		t.Fatalf("%d exhaustion warnings after the interval, want 2", n)
	}
	// Existing leases and reservations are still served.
	if r, o := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != ReplyOffer || o.YIAddr != a {
		t.Fatalf("existing lease not re-offered: %v %v", r, o.YIAddr)
	}
	if r, _ := do(t, s, request(rawdhcp.Request, mac(1), withCIAddr(a.String())), 67); r != ReplyAck {
		t.Fatalf("renewal refused in a full pool: %v", r)
	}
	if r, o := do(t, s, request(rawdhcp.Discover, mac(9)), 67); r != ReplyOffer || o.YIAddr.String() != "10.40.0.50" {
		t.Fatalf("reservation not served in a full pool: %v %v", r, o.YIAddr)
	}
	if s.Stats().Exhausted < 6 {
		t.Fatalf("exhausted counter %d", s.Stats().Exhausted)
	}
}

func TestExpiredReclaimedOldestFirst(t *testing.T) {
	cfg := testConfig()
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.102")
	s, clk := newTestServer(t, cfg)
	first := dora(t, s, mac(1))
	clk.Add(time.Minute)
	second := dora(t, s, mac(2))
	clk.Add(time.Minute)
	dora(t, s, mac(3))
	clk.Add(2 * time.Hour) // every lease expired; mac(1)'s longest ago
	_, o := do(t, s, request(rawdhcp.Discover, mac(4)), 67)
	if o.YIAddr != first {
		t.Fatalf("reclaimed %v, want the oldest %v", o.YIAddr, first)
	}
	// The returning client whose lease expired but was not reclaimed keeps its address.
	_, o = do(t, s, request(rawdhcp.Discover, mac(2)), 67)
	if o.YIAddr != second {
		t.Fatalf("expired but unreclaimed lease: got %v, want %v", o.YIAddr, second)
	}
}

func TestRequestStates(t *testing.T) {
	cfg := testConfig()
	st := newMemStore()
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	ip := dora(t, s, mac(1))
	commits := st.commits

	// RENEWING: ciaddr, no 54/50 → ACK with a lazy Touch, no durable commit.
	r, ack := do(t, s, request(rawdhcp.Request, mac(1), withCIAddr(ip.String())), 67)
	if r != ReplyAck || ack.YIAddr != ip || ack.CIAddr != ip {
		t.Fatalf("renew: %v yiaddr %v ciaddr %v", r, ack.YIAddr, ack.CIAddr)
	}
	if st.commits != commits || st.touches != 1 {
		t.Fatalf("renewal: %d commits, %d touches; want a touch only", st.commits-commits, st.touches)
	}
	// INIT-REBOOT with the right address → ACK.
	if r, _ := do(t, s, request(rawdhcp.Request, mac(1), withRequested(ip.String())), 67); r != ReplyAck {
		t.Fatalf("init-reboot: %v", r)
	}
	// INIT-REBOOT on the wrong network: silent unless authoritative.
	if r, _ := do(t, s, request(rawdhcp.Request, mac(1), withRequested("192.168.9.9")), 67); r != NoReply {
		t.Fatalf("non-authoritative answered a foreign address: %v", r)
	}
	s.cfg.Authoritative = true
	r, nak := do(t, s, request(rawdhcp.Request, mac(1), withRequested("192.168.9.9")), 67)
	if r != ReplyNak {
		t.Fatalf("authoritative: %v, want NAK", r)
	}
	if nak.YIAddr.IsValid() && !nak.YIAddr.IsUnspecified() || nak.Options.Has(rawdhcp.OptLeaseTime) {
		t.Fatal("NAK carries an address or a lease time")
	}
	// Someone else's address: NAK when authoritative.
	other := dora(t, s, mac(2))
	if r, _ := do(t, s, request(rawdhcp.Request, mac(1), withRequested(other.String())), 67); r != ReplyNak {
		t.Fatalf("request for another client's address: %v", r)
	}
	// SELECTING us for an address we did not offer and cannot give → NAK.
	if r, _ := do(t, s, request(rawdhcp.Request, mac(3), withServerID(tServer), withRequested(other.String())), 67); r != ReplyNak {
		t.Fatalf("selecting a taken address: %v", r)
	}
}

func TestSelectingOtherServerFreesOffer(t *testing.T) {
	cfg := testConfig()
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.100")
	s, _ := newTestServer(t, cfg)
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != ReplyOffer {
		t.Fatal(r)
	}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(2)), 67); r != NoReply {
		t.Fatal("the only address offered twice")
	}
	r, _ := do(t, s, request(rawdhcp.Request, mac(1), withServerID(netip.MustParseAddr("10.40.0.2")), withRequested("10.40.0.77")), 67)
	if r != NoReply {
		t.Fatalf("answered a REQUEST for another server: %v", r)
	}
	if r, o := do(t, s, request(rawdhcp.Discover, mac(2)), 67); r != ReplyOffer || o.YIAddr.String() != "10.40.0.100" {
		t.Fatalf("freed offer not reusable: %v %v", r, o.YIAddr)
	}
}

func TestDeclineReleaseInform(t *testing.T) {
	cfg := testConfig()
	st := newMemStore()
	cfg.Store = st
	s, clk := newTestServer(t, cfg)
	ip := dora(t, s, mac(1))
	// DECLINE: quarantined, durable, and never offered during the quarantine.
	do(t, s, request(rawdhcp.Decline, mac(1), withServerID(tServer), withRequested(ip.String())), 67)
	if l := st.leases[ip]; l.State != lease.Declined {
		t.Fatalf("decline not stored: %+v", l)
	}
	for i := range 20 {
		_, o := do(t, s, request(rawdhcp.Discover, mac(byte(50+i))), 67)
		if o.YIAddr == ip {
			t.Fatalf("declined address %v offered during quarantine", ip)
		}
		do(t, s, request(rawdhcp.Request, mac(byte(50+i)), withServerID(netip.MustParseAddr("10.40.0.9")), withRequested("10.40.0.9")), 67)
	}
	_, o := do(t, s, request(rawdhcp.Discover, mac(1)), 67)
	if o.YIAddr == ip {
		t.Fatal("declining client offered its declined address again")
	}
	clk.Add(DefaultDeclineQuarantine + time.Second)
	_, o = do(t, s, request(rawdhcp.Discover, mac(99), withRequested(ip.String())), 67)
	if o.YIAddr != ip {
		t.Fatalf("address not back after the quarantine: %v", o.YIAddr)
	}

	// RELEASE: released in the store; the client gets it back.
	b := dora(t, s, mac(2))
	do(t, s, request(rawdhcp.Release, mac(2), withServerID(tServer), withCIAddr(b.String())), 67)
	if l := st.leases[b]; l.State != lease.Released {
		t.Fatalf("release not stored: %+v", l)
	}
	if got := dora(t, s, mac(2)); got != b {
		t.Fatalf("released client got %v, want %v back", got, b)
	}
	// A RELEASE for someone else's address is ignored.
	do(t, s, request(rawdhcp.Release, mac(3), withServerID(tServer), withCIAddr(b.String())), 67)
	if l := st.leases[b]; l.State != lease.Bound {
		t.Fatalf("foreign release applied: %+v", l)
	}

	// INFORM: ACK with options, no lease, no address.
	commits := st.commits
	r, ack := do(t, s, request(rawdhcp.Inform, mac(7), withCIAddr("10.40.0.30")), 67)
	if r != ReplyInform || ack.YIAddr != netip.IPv4Unspecified() || ack.CIAddr.String() != "10.40.0.30" {
		t.Fatalf("inform: %v yiaddr %v ciaddr %v", r, ack.YIAddr, ack.CIAddr)
	}
	if ack.Options.Has(rawdhcp.OptLeaseTime) || st.commits != commits {
		t.Fatal("INFORM created a lease or sent a lease time")
	}
	if mt, _ := ack.MessageType(); mt != rawdhcp.Ack {
		t.Fatalf("INFORM reply type %v", mt)
	}
}

func TestARPConflictSkipsAddress(t *testing.T) {
	cfg := testConfig()
	s, _ := newTestServer(t, cfg)
	hashIP := a4(s.addr.pool.begin + macHash(mac(1))%uint32(s.addr.pool.size()))
	fp := &fakeProber{used: map[netip.Addr]bool{hashIP: true}}
	s.SetProber(fp)
	s.cfg.ProbeWait = time.Millisecond
	r, o := do(t, s, request(rawdhcp.Discover, mac(1)), 67)
	if r != ReplyOffer || o.YIAddr == hashIP {
		t.Fatalf("offered the address that answered ARP: %v %v", r, o.YIAddr)
	}
	if s.Stats().Conflicts != 1 {
		t.Fatalf("conflicts = %d", s.Stats().Conflicts)
	}
	calls := fp.calls
	// A retransmitted DISCOVER reuses the offer: no new probe.
	do(t, s, request(rawdhcp.Discover, mac(1)), 67)
	if fp.calls != calls {
		t.Fatalf("probed again for a client's own offer (%d → %d)", calls, fp.calls)
	}
	// Another client never gets the conflicting address either.
	for i := range 8 {
		_, o := do(t, s, request(rawdhcp.Discover, mac(byte(10+i))), 67)
		if o.YIAddr == hashIP {
			t.Fatal("conflicting address offered")
		}
	}
}

func TestWhitelistAndReservationOptions(t *testing.T) {
	cfg := testConfig()
	cfg.Whitelist = true
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50","router":"10.40.0.1","subnet":"255.255.0.0","dns":["10.40.0.2"],"rom":"custom.kpxe","hostname":"node9"}}}}`))
	cfg.Subnet = netip.MustParsePrefix("10.40.0.0/16")
	s, _ := newTestServer(t, cfg)
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != NoReply {
		t.Fatalf("whitelist answered an unknown MAC: %v", r)
	}
	r, o := do(t, s, request(rawdhcp.Discover, mac(9), withPXE(0)), 67)
	if r != ReplyOffer || o.YIAddr.String() != "10.40.0.50" {
		t.Fatalf("reserved client: %v %v", r, o.YIAddr)
	}
	if m, _ := o.SubnetMask(); m.String() != "255.255.0.0" {
		t.Errorf("mask %v", m)
	}
	if rt := o.Routers(nil); len(rt) != 1 || rt[0].String() != "10.40.0.1" {
		t.Errorf("router %v", rt)
	}
	if string(o.Hostname()) != "node9" {
		t.Errorf("hostname %q", o.Hostname())
	}
	if string(o.BootFileName()) != "custom.kpxe" || string(o.FileName()) != "custom.kpxe" {
		t.Errorf("rom: option 67 %q, file %q", o.BootFileName(), o.FileName())
	}
	// SIGHUP: a new set replaces the old one.
	r2, _ := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:01":{"ipaddr":"10.40.0.60"}}}}`))
	if err := s.SetReservations(r2); err != nil {
		t.Fatal(err)
	}
	if r, o := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != ReplyOffer || o.YIAddr.String() != "10.40.0.60" {
		t.Fatalf("after reload: %v %v", r, o.YIAddr)
	}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(9)), 67); r != NoReply {
		t.Fatal("removed reservation still answered")
	}
}

func TestRateLimitPerMAC(t *testing.T) {
	cfg := testConfig()
	cfg.RatePerMAC, cfg.RateBurst = 1, 3
	s, clk := newTestServer(t, cfg)
	n := 0
	for range 10 {
		if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r == ReplyOffer {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d answers in a burst, want 3", n)
	}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(2)), 67); r != ReplyOffer {
		t.Fatal("another MAC was limited too")
	}
	clk.Add(2 * time.Second)
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != ReplyOffer {
		t.Fatal("bucket did not refill")
	}
	if s.Stats().RateLimited != 7 {
		t.Fatalf("rate limited %d", s.Stats().RateLimited)
	}
}

func TestPauseDropsEverything(t *testing.T) {
	s, _ := newTestServer(t, testConfig())
	s.Pause()
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != NoReply {
		t.Fatal("paused server answered")
	}
	s.Resume()
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(1)), 67); r != ReplyOffer {
		t.Fatal("resumed server silent")
	}
}

func TestCommitAtOfferForPi(t *testing.T) {
	cfg := testConfig()
	st := newMemStore()
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	pi := [6]byte{0xb8, 0x27, 0xeb, 1, 2, 3}
	r, o := do(t, s, request(rawdhcp.Discover, pi, withPXE(0)), 67)
	if r != ReplyOffer {
		t.Fatal(r)
	}
	if l, ok := st.leases[o.YIAddr]; !ok || l.State != lease.Bound {
		t.Fatalf("Pi 3 lease not committed at OFFER: %+v", l)
	}
	if _, ok := o.VendorSpecific(); !ok {
		t.Fatal("Pi OFFER without option 43")
	}
	if string(o.TFTPServerName()) != tServer.String() || o.SIAddr != tServer {
		t.Fatalf("Pi: option 66 %q siaddr %v", o.TFTPServerName(), o.SIAddr)
	}
}

func TestLeasesSurviveRestart(t *testing.T) {
	cfg := testConfig()
	st := newMemStore()
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	want := map[[6]byte]netip.Addr{}
	for i := range 6 {
		want[mac(byte(i))] = dora(t, s, mac(byte(i)))
	}
	s.Close()
	s2, _ := newTestServer(t, cfg)
	for m, ip := range want {
		if _, o := do(t, s2, request(rawdhcp.Discover, m), 67); o.YIAddr != ip {
			t.Fatalf("%x: after restart offered %v, want %v", m, o.YIAddr, ip)
		}
	}
	if n := len(s2.Leases()); n != 6 {
		t.Fatalf("snapshot has %d rows", n)
	}
	if p := s2.Pool(); p.Size != 10 || p.InUse != 6 || p.Mode != "full" {
		t.Fatalf("pool info %+v", p)
	}
}

func TestDropsForeignAndMalformed(t *testing.T) {
	s, _ := newTestServer(t, testConfig())
	reply := request(rawdhcp.Offer, mac(1))
	reply.Op = rawdhcp.BootReply
	bootp := request(rawdhcp.Discover, mac(1))
	bootp.Options.Reset()
	tr := request(rawdhcp.Discover, mac(1))
	tr.HType = 6
	relayed := request(rawdhcp.Discover, mac(1))
	relayed.GIAddr = netip.MustParseAddr("192.168.7.1")
	for _, m := range []*rawdhcp.Message{reply, bootp, tr, relayed} {
		if r, _ := do(t, s, m, 67); r != NoReply {
			t.Fatalf("answered %+v", m)
		}
	}
	if s.Stats().Dropped != 4 {
		t.Fatalf("dropped %d", s.Stats().Dropped)
	}
	_ = context.Background
}

// A reserved client whose reserved address is declined gets a pool address, and its
// REQUEST for that address is ACKed (not NAKed for not being the reservation).
func TestReservedClientFallsBackAfterDecline(t *testing.T) {
	cfg := testConfig()
	cfg.Authoritative = true
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	s, _ := newTestServer(t, cfg)
	r, o := do(t, s, request(rawdhcp.Discover, mac(9)), 67)
	if r != ReplyOffer || o.YIAddr.String() != "10.40.0.50" {
		t.Fatalf("reservation: %v %v", r, o.YIAddr)
	}
	do(t, s, request(rawdhcp.Request, mac(9), withServerID(tServer), withRequested("10.40.0.50")), 67)
	do(t, s, request(rawdhcp.Decline, mac(9), withServerID(tServer), withRequested("10.40.0.50")), 67)
	r, o = do(t, s, request(rawdhcp.Discover, mac(9)), 67)
	if r != ReplyOffer || !s.addr.pool.inRange(u32(o.YIAddr)) {
		t.Fatalf("after decline: %v %v, want a pool address", r, o.YIAddr)
	}
	if r, _ := do(t, s, request(rawdhcp.Request, mac(9), withServerID(tServer), withRequested(o.YIAddr.String())), 67); r != ReplyAck {
		t.Fatalf("REQUEST of the fallback address: %v", r)
	}
	// While the reservation stays quarantined the fallback is stable.
	if _, again := do(t, s, request(rawdhcp.Discover, mac(9)), 67); again.YIAddr != o.YIAddr {
		t.Fatalf("fallback moved from %v to %v", o.YIAddr, again.YIAddr)
	}
	// But it cannot pick another pool address by itself.
	if r, _ := do(t, s, request(rawdhcp.Request, mac(9), withRequested("10.40.0.108")), 67); r != ReplyNak {
		t.Fatalf("INIT-REBOOT to an arbitrary pool address: %v, want NAK", r)
	}
}

func TestSweepAnnouncesExpiry(t *testing.T) {
	cfg := testConfig()
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(16)
	defer cancel()
	cfg.Bus = bus
	s, clk := newTestServer(t, cfg)
	ip := dora(t, s, mac(1))
	s.obs.sweep(clk.Now())
	clk.Add(2 * time.Hour)
	s.obs.sweep(clk.Now())
	s.obs.sweep(clk.Now()) // announced once only
	var expired []string
	for len(ch) > 0 {
		if e := <-ch; e.Kind == events.LeaseChanged && e.Msg == "expired" {
			expired = append(expired, e.Client.Addr().String())
		}
	}
	if len(expired) != 1 || expired[0] != ip.String() {
		t.Fatalf("expired events %v, want [%v]", expired, ip)
	}
}

// withPi4 makes a request look like a Pi 4 bootloader's: PXE vendor class, arch 0 and the
// option 97 GUID "RPi4" with serial i.
func withPi4(i byte) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) {
		m.SetVendorClass("PXEClient:Arch:00000:UNDI:002001")
		m.SetClientArchs(0)
		m.SetClientMachineID(append([]byte{0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0}, 1, 2, 3, 4, i, 0, 0, 0))
	}
}

// TestCommitAtOfferIsShort: a DISCOVER that commits at the OFFER commits a short lease, the
// REQUEST writes the full one, and a flood of such DISCOVERs from new MACs holds the pool
// only for the short lease.
func TestCommitAtOfferIsShort(t *testing.T) {
	cfg := testConfig()
	cfg.LeaseTime = 24 * time.Hour
	st := newMemStore()
	cfg.Store = st
	s, clk := newTestServer(t, cfg)
	start := clk.Now()

	pi := [6]byte{0xd8, 0x3a, 0xdd, 0, 0, 1}
	r, o := do(t, s, request(rawdhcp.Discover, pi, withPi4(1)), 67)
	if r != ReplyOffer {
		t.Fatal(r)
	}
	l := st.leases[o.YIAddr]
	if l.State != lease.Bound || l.Expiry.After(start.Add(offerCommitLease)) {
		t.Fatalf("lease committed at the OFFER: %+v, want bound until at most %v", l, start.Add(offerCommitLease))
	}
	commits := st.commits
	clk.Add(time.Second)
	r, _ = do(t, s, request(rawdhcp.Request, pi, withPi4(1), withServerID(tServer), withRequested(o.YIAddr.String())), 67)
	if r != ReplyAck {
		t.Fatal(r)
	}
	if st.commits != commits+1 || !st.leases[o.YIAddr].Expiry.Equal(clk.Now().Add(24*time.Hour)) {
		t.Fatalf("after the REQUEST: %d commits (was %d), lease %+v", st.commits, commits, st.leases[o.YIAddr])
	}
	// A second DISCOVER (a reboot) must not shorten the full lease.
	if r, _ := do(t, s, request(rawdhcp.Discover, pi, withPi4(1)), 67); r != ReplyOffer {
		t.Fatal(r)
	}
	if !st.leases[o.YIAddr].Expiry.Equal(clk.Now().Add(24 * time.Hour)) {
		t.Fatalf("re-DISCOVER shortened the lease: %+v", st.leases[o.YIAddr])
	}

	// Flood: new "Pi" MACs take every other address of the ten-address pool.
	for i := range 20 {
		do(t, s, request(rawdhcp.Discover, [6]byte{0xd8, 0x3a, 0xdd, 1, 0, byte(i)}, withPi4(byte(i))), 67)
	}
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(50)), 67); r != NoReply {
		t.Fatalf("pool not exhausted by the flood: %v", r)
	}
	clk.Add(offerCommitLease + time.Second)
	if r, _ := do(t, s, request(rawdhcp.Discover, mac(50)), 67); r != ReplyOffer {
		t.Fatalf("new client after the flood's short leases ran out: %v", r)
	}
	// The real Pi's full lease survived.
	if r, o2 := do(t, s, request(rawdhcp.Discover, pi, withPi4(1)), 67); r != ReplyOffer || o2.YIAddr != o.YIAddr {
		t.Fatalf("Pi lost its address: %v %v", r, o2.YIAddr)
	}
}

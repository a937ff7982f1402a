package dhcpd

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

type recWriter struct {
	mu   sync.Mutex
	got  []rawdhcp.MessageType
	yi   []netip.Addr
	resp rawdhcp.Message
}

func (w *recWriter) NewReply(typ rawdhcp.MessageType) *rawdhcp.Message {
	w.resp.Reset()
	w.resp.SetMessageType(typ)
	return &w.resp
}

func (w *recWriter) record(resp *rawdhcp.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, _ := resp.MessageType()
	w.got = append(w.got, t)
	w.yi = append(w.yi, resp.YIAddr)
}

func (w *recWriter) Reply(resp *rawdhcp.Message) error { w.record(resp); return nil }

func (w *recWriter) n() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

type recReplier struct{ recWriter }

func (r *recReplier) Reply(resp, req *rawdhcp.Message, info *rawdhcp.PacketInfo) error {
	if resp.XID != req.XID || resp.CHAddr != req.CHAddr {
		panic("deferred reply does not match its request copy")
	}
	r.record(resp)
	return nil
}

// slowProber blocks every probe until released.
type slowProber struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (p *slowProber) Probe(ctx context.Context, ip netip.Addr, wait time.Duration) (bool, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return false, nil
}

// TestProbeDeferredOffServeLoop: with a Replier, DISCOVERs that need a probe return from
// ServeDHCP at once and are answered later through the Replier; known clients are
// answered inline.
func TestProbeDeferredOffServeLoop(t *testing.T) {
	cfg := testConfig()
	s, _ := newTestServer(t, cfg)
	sp := &slowProber{release: make(chan struct{})}
	s.SetProber(sp)
	rep := &recReplier{}
	s.SetReplier(rep)
	w := &recWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	for i := range 5 {
		// Reuse one request message, as the serve loop does: the deferred copy must not
		// see the later changes.
		req := request(rawdhcp.Discover, mac(byte(i)))
		s.ServeDHCP(w, req, info)
		req.CHAddr = [16]byte{0xee}
	}
	if w.n() != 0 {
		t.Fatalf("%d replies sent inline while their probes were pending", w.n())
	}
	close(sp.release)
	if !waitFor(5*time.Second, func() bool { return rep.n() == 5 }) {
		t.Fatalf("deferred replies: %d of 5", rep.n())
	}
	for i, ty := range rep.got {
		if ty != rawdhcp.Offer || !s.addr.pool.inRange(u32(rep.yi[i])) {
			t.Fatalf("deferred reply %d: %v %v", i, ty, rep.yi[i])
		}
	}
	// A client that already holds its offer is answered inline, without a probe.
	calls := sp.calls
	s.ServeDHCP(w, request(rawdhcp.Discover, mac(0)), info)
	if w.n() != 1 || sp.calls != calls {
		t.Fatalf("known client: %d inline replies, %d new probes", w.n(), sp.calls-calls)
	}
	if st := s.Stats(); st.Received != 6 || st.Offers != 6 || st.ByType[rawdhcp.Discover] != 6 {
		t.Fatalf("counters after deferral: %+v", st)
	}
}

// panicProber panics in every probe.
type panicProber struct{}

func (panicProber) Probe(context.Context, netip.Addr, time.Duration) (bool, error) {
	panic("probe failed badly")
}

// TestDeferredProbePanicRecovered: a panic on the deferred ARP-probe goroutine is
// recovered, counted and logged; the server keeps answering.
func TestDeferredProbePanicRecovered(t *testing.T) {
	s, _ := newTestServer(t, testConfig())
	s.SetProber(panicProber{})
	rep := &recReplier{}
	s.SetReplier(rep)
	w := &recWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	s.ServeDHCP(w, request(rawdhcp.Discover, mac(1)), info)
	if !waitFor(5*time.Second, func() bool { return s.Stats().Panics == 1 }) {
		t.Fatalf("panic not counted: %+v", s.Stats())
	}
	// The semaphore slot came back: another deferral still works.
	if !waitFor(5*time.Second, func() bool { return len(s.deferSem) == 0 }) {
		t.Fatal("deferral slot leaked by the panic")
	}
	s.SetProber(nil)
	s.ServeDHCP(w, request(rawdhcp.Discover, mac(2)), info)
	if w.n() != 1 {
		t.Fatalf("no answer after the panic: %d", w.n())
	}
}

// TestEventCarriesDecision: the DHCP event of a reply sent by ServeDHCP carries what the
// boot decision the reply was built from said about the client, so that observers need
// not decide again.
func TestEventCarriesDecision(t *testing.T) {
	cfg := testConfig()
	bus := events.NewBus()
	cfg.Bus = bus
	ch, cancel := bus.Subscribe(16)
	defer cancel()
	s, _ := newTestServer(t, cfg)
	w := &recWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	req := request(rawdhcp.Discover, mac(1), withPXE(7))
	req.SetClientMachineID(append([]byte{0}, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00))
	s.ServeDHCP(w, req, info)
	if w.n() != 1 {
		t.Fatal("no OFFER")
	}
	for {
		select {
		case e := <-ch:
			if e.Kind != events.DHCP {
				continue
			}
			want := events.Machine{Kind: "uefi-x64", Arch: 7, ArchKnown: true, Platform: "efi", BuildArch: "x86_64", UUID: "11223344-5566-7788-99aa-bbccddeeff00", Chain: "ipxe"}
			if e.Msg != "OFFER" || e.MAC != "02:00:00:00:00:01" || e.Machine != want {
				t.Fatalf("event %+v, want machine %+v", e, want)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("no DHCP event")
		}
	}
}

// gateStore is a memStore whose commits wait until the gate opens.
type gateStore struct {
	*memStore
	gate chan struct{}
}

func (g *gateStore) Commit(ctx context.Context, l lease.Lease) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.memStore.Commit(ctx, l)
}

// TestRequestCommitDeferred: with a Replier, a REQUEST for a new lease returns from
// ServeDHCP at once and its ACK leaves through the Replier only after the lease is durable;
// a renewal (lazy Touch) is answered inline.
func TestRequestCommitDeferred(t *testing.T) {
	cfg := testConfig()
	st := &gateStore{memStore: newMemStore(), gate: make(chan struct{})}
	cfg.Store = st
	s, _ := newTestServer(t, cfg)
	rep := &recReplier{}
	s.SetReplier(rep)
	w := &recWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	s.ServeDHCP(w, request(rawdhcp.Discover, mac(1)), info)
	if w.n() != 1 {
		t.Fatal("no OFFER")
	}
	ip := w.yi[0]
	req := request(rawdhcp.Request, mac(1), withServerID(tServer), withRequested(ip.String()))
	s.ServeDHCP(w, req, info)
	req.CHAddr = [16]byte{0xee} // the serve loop reuses its message: the copy must not see it
	if w.n() != 1 || rep.n() != 0 {
		t.Fatalf("ACK sent before the lease was durable: %d inline, %d deferred", w.n()-1, rep.n())
	}
	close(st.gate)
	if !waitFor(5*time.Second, func() bool { return rep.n() == 1 }) {
		t.Fatal("no deferred ACK")
	}
	if rep.got[0] != rawdhcp.Ack || rep.yi[0] != ip {
		t.Fatalf("deferred reply %v %v", rep.got[0], rep.yi[0])
	}
	st.mu.Lock()
	l, ok := st.leases[ip]
	st.mu.Unlock()
	if !ok || l.State != lease.Bound {
		t.Fatalf("lease not committed: %+v", l)
	}
	// A renewal only touches the store: answered inline.
	s.ServeDHCP(w, request(rawdhcp.Request, mac(1), withCIAddr(ip.String())), info)
	if w.n() != 2 || rep.n() != 1 {
		t.Fatalf("renewal: %d inline, %d deferred", w.n()-1, rep.n())
	}
	if st := s.Stats(); st.Received != 3 || st.Acks != 2 || st.ByType[rawdhcp.Request] != 2 {
		t.Fatalf("counters: %+v", st)
	}
}

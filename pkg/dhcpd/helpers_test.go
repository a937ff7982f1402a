package dhcpd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

var (
	tServer = netip.MustParseAddr("10.40.0.1")
	tSubnet = netip.MustParsePrefix("10.40.0.0/24")
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a full-mode configuration without sockets.
func testConfig() Config {
	return Config{
		Mode:       ModeFull,
		ServerIP:   tServer,
		Subnet:     tSubnet,
		Begin:      netip.MustParseAddr("10.40.0.100"),
		End:        netip.MustParseAddr("10.40.0.109"),
		Router:     netip.MustParseAddr("10.40.0.254"),
		DNS:        []netip.Addr{netip.MustParseAddr("10.40.0.53"), netip.MustParseAddr("10.40.0.54")},
		Domain:     "lab.test",
		LeaseTime:  time.Hour,
		ProbeWait:  -1,
		RatePerMAC: -1,
		Boot:       boot.Config{ServerIP: tServer, TFTP: true},
		Logger:     quietLogger(),
	}
}

// newTestServer builds a server with a fixed, settable clock.
func newTestServer(t testing.TB, cfg Config) (*Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mac(i byte) [6]byte { return [6]byte{0x02, 0, 0, 0, 0, i} }

// request builds a client message.
func request(typ rawdhcp.MessageType, m [6]byte, opts ...func(*rawdhcp.Message)) *rawdhcp.Message {
	var r rawdhcp.Message
	r.Op = rawdhcp.BootRequest
	r.SetHardwareAddr(net.HardwareAddr(m[:]))
	r.XID = 0x01020304
	r.CIAddr, r.YIAddr, r.SIAddr, r.GIAddr = netip.IPv4Unspecified(), netip.IPv4Unspecified(), netip.IPv4Unspecified(), netip.IPv4Unspecified()
	r.SetMessageType(typ)
	for _, o := range opts {
		o(&r)
	}
	return &r
}

func withRequested(ip string) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) { m.SetRequestedIP(netip.MustParseAddr(ip)) }
}
func withServerID(ip netip.Addr) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) { m.SetServerID(ip) }
}
func withCIAddr(ip string) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) { m.CIAddr = netip.MustParseAddr(ip) }
}
func withPRL(codes ...rawdhcp.OptionCode) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) { m.SetParamRequestList(codes...) }
}
func withPXE(arch uint16) func(*rawdhcp.Message) {
	return func(m *rawdhcp.Message) {
		m.SetVendorClass(fmt.Sprintf("PXEClient:Arch:%05d:UNDI:002001", arch))
		m.SetClientArchs(arch)
		m.SetClientMachineID(append([]byte{0}, make([]byte, 16)...))
	}
}

// do runs one request through Handle and returns the reply kind and message.
func do(t testing.TB, s *Server, req *rawdhcp.Message, port uint16) (Reply, *rawdhcp.Message) {
	t.Helper()
	var resp rawdhcp.Message
	r := s.Handle(context.Background(), req, port, &resp)
	if r != NoReply {
		// Every reply must encode and decode again.
		b, err := resp.Append(nil)
		if err != nil {
			t.Fatalf("reply does not encode: %v", err)
		}
		var back rawdhcp.Message
		if err := back.Decode(b); err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		s.Sent(r, &resp)
	}
	return r, &resp
}

// dora runs DISCOVER → OFFER → REQUEST → ACK and returns the leased address.
func dora(t testing.TB, s *Server, m [6]byte) netip.Addr {
	t.Helper()
	r, off := do(t, s, request(rawdhcp.Discover, m), 67)
	if r != ReplyOffer {
		t.Fatalf("DISCOVER from %x: got %v, want OFFER", m, r)
	}
	ip := off.YIAddr
	r, ack := do(t, s, request(rawdhcp.Request, m, withServerID(tServer), withRequested(ip.String())), 67)
	if r != ReplyAck || ack.YIAddr != ip {
		t.Fatalf("REQUEST %v from %x: got %v yiaddr %v", ip, m, r, ack.YIAddr)
	}
	return ip
}

// memStore is an in-memory LeaseStore that records what was committed.
type memStore struct {
	mu      sync.Mutex
	leases  map[netip.Addr]lease.Lease
	commits int
	touches int
	fail    error
	health  lease.Health // what Health reports (a full disk: Degraded)
}

func newMemStore() *memStore { return &memStore{leases: make(map[netip.Addr]lease.Lease)} }

func (m *memStore) Commit(ctx context.Context, l lease.Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.commits++
	for ip, o := range m.leases {
		if l.State != lease.Declined && string(o.MAC) == string(l.MAC) && ip != l.IP {
			delete(m.leases, ip)
		}
	}
	l.MAC = append(net.HardwareAddr(nil), l.MAC...)
	m.leases[l.IP] = l
	return nil
}

func (m *memStore) Touch(mac net.HardwareAddr, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ip, l := range m.leases {
		if string(l.MAC) == string(mac) && l.State != lease.Declined {
			l.Expiry = exp
			m.leases[ip] = l
			m.touches++
			return nil
		}
	}
	return lease.ErrNotFound
}

func (m *memStore) Health() lease.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

func (m *memStore) All() []lease.Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]lease.Lease, 0, len(m.leases))
	for _, l := range m.leases {
		out = append(out, l)
	}
	return out
}

// fakeProber answers probes from a set of used addresses.
type fakeProber struct {
	mu    sync.Mutex
	used  map[netip.Addr]bool
	calls int
}

func (f *fakeProber) Probe(ctx context.Context, ip netip.Addr, wait time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.used[ip], nil
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

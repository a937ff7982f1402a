package dhcpd

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// benchConfig is a /16 with a 65 000-address pool, no probe, no rate limit.
func benchConfig() Config {
	c := testConfig()
	c.Subnet = netip.MustParsePrefix("10.40.0.0/16")
	c.Begin, c.End = netip.MustParseAddr("10.40.0.10"), netip.MustParseAddr("10.40.253.250")
	return c
}

// benchClients is how many distinct MACs a benchmark cycles through: the first pass is
// new clients, later passes are returning ones (re-offer + REQUEST of their address).
const benchClients = 50000

func benchMAC(i int) [6]byte {
	return [6]byte{0x02, 0x42, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

// doraOnce runs one DISCOVER → OFFER → REQUEST → ACK through Handle with reused messages.
func doraOnce(b *testing.B, s *Server, m [6]byte, disc, req, resp *rawdhcp.Message) {
	disc.CHAddr = [16]byte{}
	copy(disc.CHAddr[:], m[:])
	if r := s.Handle(context.Background(), disc, 67, resp); r != ReplyOffer {
		b.Fatalf("DISCOVER: %v", r)
	}
	req.CHAddr = disc.CHAddr
	req.SetRequestedIP(resp.YIAddr)
	if r := s.Handle(context.Background(), req, 67, resp); r != ReplyAck {
		b.Fatalf("REQUEST: %v", r)
	}
}

func benchMessages() (disc, req *rawdhcp.Message) {
	disc = request(rawdhcp.Discover, mac(0), withPRL(1, 3, 6, 15, 28, 51, 54, 58, 59, 66, 67))
	req = request(rawdhcp.Request, mac(0), withServerID(tServer), withRequested("10.40.0.10"), withPRL(1, 3, 6, 15, 28, 51, 54, 58, 59, 66, 67))
	return
}

// BenchmarkDORA is the handler path of one full DORA (two Handle calls, option building,
// boot policy) without a store: the CPU and allocation cost of the DHCP logic itself.
func BenchmarkDORA(b *testing.B) {
	s, _ := newTestServer(b, benchConfig())
	disc, req := benchMessages()
	var resp rawdhcp.Message
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		doraOnce(b, s, benchMAC(i%benchClients), disc, req, &resp)
	}
}

// BenchmarkDORADurable adds the real lease store (pkg/lease) in a temporary directory: each
// ACK waits for its lease to be on disk. Every iteration is a new client (a /8 pool), so
// every ACK is a durable Commit, never a lazy renewal Touch; parallel clients share
// fsyncs (group commit). Reported: commits per sync and durable commits per DORA.
func BenchmarkDORADurable(b *testing.B) {
	st, _, err := lease.Open(b.TempDir(), lease.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg := benchConfig()
	cfg.Subnet = netip.MustParsePrefix("10.0.0.0/8")
	cfg.ServerIP = netip.MustParseAddr("10.0.0.1")
	cfg.Boot.ServerIP = cfg.ServerIP
	cfg.Router = netip.Addr{}
	cfg.DNS = nil
	cfg.Begin, cfg.End = netip.MustParseAddr("10.0.1.0"), netip.MustParseAddr("10.255.255.250")
	cfg.Store = st
	s, _ := newTestServer(b, cfg)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // 16 × GOMAXPROCS clients in flight, like a lab full of booting PCs
	b.RunParallel(func(pb *testing.PB) {
		disc, req := benchMessages()
		req.Options.Del(rawdhcp.OptServerID)
		req.SetServerID(cfg.ServerIP)
		var resp rawdhcp.Message
		for pb.Next() {
			doraOnce(b, s, benchMAC(int(next.Add(1))), disc, req, &resp)
		}
	})
	b.StopTimer()
	ss := st.Stats()
	if ss.Syncs > 0 {
		b.ReportMetric(float64(ss.Commits)/float64(ss.Syncs), "commits/sync")
	}
	b.ReportMetric(float64(ss.Commits)/float64(b.N), "commits/op")
}

// BenchmarkLeaseTableMemory reports the heap held per lease with 10 000 leases bound.
func BenchmarkLeaseTableMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, _ := newTestServer(b, benchConfig())
		disc, req := benchMessages()
		var resp rawdhcp.Message
		for i := range 10000 {
			doraOnce(b, s, benchMAC(i), disc, req, &resp)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "heapB/lease")
		runtime.KeepAlive(s)
		s.Close()
	}
}

var _ = time.Second

// serveDORA runs one DORA through ServeDHCP, as the serve loop does, with w keeping the
// reply; it fails the benchmark unless both replies came.
func serveDORA(b *testing.B, s *Server, m [6]byte, disc, req *rawdhcp.Message, w *nopWriter, info *rawdhcp.PacketInfo) {
	disc.CHAddr = [16]byte{}
	copy(disc.CHAddr[:], m[:])
	s.ServeDHCP(w, disc, info)
	if t, _ := w.resp.MessageType(); t != rawdhcp.Offer || w.resp.CHAddr != disc.CHAddr {
		b.Fatalf("DISCOVER: %v", t)
	}
	req.CHAddr = disc.CHAddr
	req.SetRequestedIP(w.resp.YIAddr)
	s.ServeDHCP(w, req, info)
	if t, _ := w.resp.MessageType(); t != rawdhcp.Ack {
		b.Fatalf("REQUEST: %v", t)
	}
}

// warnLogger logs warnings only, like the peers in bench/dhcp.sh: the per-reply info line
// is left out of the reply path's cost (it is slog's, and it is measured in
// TestReplyLogAllocs).
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// BenchmarkServeDORA is the reply path as the serve loop runs it (ServeDHCP: rate limit,
// handler, boot decision, reply building, counters, event) for returning clients: zero
// allocations per DORA.
func BenchmarkServeDORA(b *testing.B) {
	cfg := benchConfig()
	cfg.Logger = warnLogger()
	s, _ := newTestServer(b, cfg)
	disc, req := benchMessages()
	w := &nopWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("10.40.0.1:67")}
	const clients = 1000
	for i := range clients {
		serveDORA(b, s, benchMAC(i), disc, req, w, info)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		serveDORA(b, s, benchMAC(i%clients), disc, req, w, info)
	}
}

// BenchmarkServeDORADurable is ServeDHCP with the real lease store for new clients only:
// every ACK waits for its own durable commit (group-committed across the parallel clients).
// Its allocations are the new lease's own: its identity, the store's record.
func BenchmarkServeDORADurable(b *testing.B) {
	st, _, err := lease.Open(b.TempDir(), lease.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cfg := benchConfig()
	cfg.Subnet = netip.MustParsePrefix("10.0.0.0/8")
	cfg.ServerIP = netip.MustParseAddr("10.0.0.1")
	cfg.Boot.ServerIP = cfg.ServerIP
	cfg.Begin, cfg.End = netip.MustParseAddr("10.0.1.0"), netip.MustParseAddr("10.255.255.250")
	cfg.Store = st
	cfg.Logger = warnLogger()
	s, _ := newTestServer(b, cfg)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		disc, req := benchMessages()
		req.Options.Del(rawdhcp.OptServerID)
		req.SetServerID(cfg.ServerIP)
		w := &nopWriter{}
		info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("10.0.0.1:67")}
		for pb.Next() {
			serveDORA(b, s, benchMAC(int(next.Add(1))), disc, req, w, info)
		}
	})
}

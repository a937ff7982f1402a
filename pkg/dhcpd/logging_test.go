package dhcpd

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// lockedBuf is a bytes.Buffer safe for the server's goroutines.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func levelServer(t *testing.T, lv slog.Level, mode Mode, noBoot ...bool) (*Server, *lockedBuf) {
	t.Helper()
	var buf lockedBuf
	cfg := testConfig()
	cfg.Mode = mode
	if len(noBoot) > 0 {
		// No boot server: pkg/boot then builds no option 66 string (its own allocation).
		cfg.Boot = boot.Config{}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: lv}))
	s, _ := newTestServer(t, cfg)
	return s, &buf
}

// Every reply that matters leaves one info line naming the client, its address, the kind
// the boot policy saw and the boot file; the per-request detail shows only at LevelVerbose.
func TestReplyLogLines(t *testing.T) {
	s, buf := levelServer(t, slog.LevelInfo, ModeFull)
	w := &recWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
	m := mac(7)
	s.ServeDHCP(w, request(rawdhcp.Discover, m, withPXE(7)), info)
	if w.n() != 1 {
		t.Fatalf("no OFFER")
	}
	ip := w.yi[0]
	s.ServeDHCP(w, request(rawdhcp.Request, m, withPXE(7), withServerID(tServer), withRequested(ip.String())), info)
	s.ServeDHCP(w, request(rawdhcp.Request, mac(8), withServerID(tServer), withRequested("10.40.1.1")), info)
	out := buf.String()
	for _, want := range []string{
		`msg="dhcp: OFFER" mac=02:00:00:00:00:07 ip=` + ip.String() + ` kind=uefi-x64 file=`,
		`msg="dhcp: ACK" mac=02:00:00:00:00:07 ip=` + ip.String() + ` kind=uefi-x64 file=`,
		`msg="dhcp: NAK" mac=02:00:00:00:00:08 ip=10.40.1.1 reason="address not on this network"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 3 || strings.Contains(out, "dhcp: request") {
		t.Errorf("want exactly the three reply lines at info:\n%s", out)
	}

	// Proxy mode: a PXE client's PROXY-OFFER names its kind and file, at info too.
	ps, pbuf := levelServer(t, slog.LevelInfo, ModeProxy)
	ps.ServeDHCP(w, request(rawdhcp.Discover, mac(9), withPXE(0)), info)
	if out := pbuf.String(); !strings.Contains(out, `msg="dhcp: PROXY-OFFER" mac=02:00:00:00:00:09 ip=- kind=bios file=`) {
		t.Errorf("proxy offer line:\n%s", out)
	}

	vs, vbuf := levelServer(t, LevelVerbose, ModeFull)
	vs.ServeDHCP(w, request(rawdhcp.Discover, mac(10), withPXE(7)), info)
	if out := vbuf.String(); !strings.Contains(out, `msg="dhcp: request" type=DISCOVER mac=02:00:00:00:00:0a xid=01020304 port=67 vendor_class=PXEClient:Arch:00007:UNDI:002001 arch=[7]`) {
		t.Errorf("verbose request line:\n%s", out)
	}
}

// With info off (a quiet daemon) the reply path allocates no more than without logging;
// with it on the same path allocates (the test can see a difference).
func TestReplyLogAllocs(t *testing.T) {
	run := func(lv slog.Level) float64 {
		s, _ := levelServer(t, lv, ModeFull, true)
		w := &nopWriter{}
		info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("255.255.255.255:67")}
		req := request(rawdhcp.Discover, mac(3))
		s.ServeDHCP(w, req, info) // the client now holds its offer: answered inline
		return testing.AllocsPerRun(200, func() { s.ServeDHCP(w, req, info) })
	}
	off, on := run(slog.LevelWarn), run(slog.LevelInfo)
	if off != 0 {
		t.Errorf("DISCOVER → OFFER with info off: %.1f allocs, want 0", off)
	}
	if on == 0 {
		t.Errorf("with info on the reply line must cost something; the test measures nothing")
	}
}

// nopWriter is a ResponseWriter that keeps nothing (recWriter's slices would allocate).
type nopWriter struct{ resp rawdhcp.Message }

func (w *nopWriter) NewReply(typ rawdhcp.MessageType) *rawdhcp.Message {
	w.resp.Reset()
	w.resp.SetMessageType(typ)
	return &w.resp
}

func (w *nopWriter) Reply(*rawdhcp.Message) error { return nil }

// TestServeDORAAllocs: a returning client's DISCOVER → OFFER and REQUEST → ACK through
// ServeDHCP allocate nothing (info line off; see TestReplyLogAllocs for it).
func TestServeDORAAllocs(t *testing.T) {
	s, _ := levelServer(t, slog.LevelWarn, ModeFull)
	w := &nopWriter{}
	info := &rawdhcp.PacketInfo{Dst: netip.MustParseAddrPort("10.40.0.1:67")}
	disc := request(rawdhcp.Discover, mac(3), withPXE(7))
	req := request(rawdhcp.Request, mac(3), withPXE(7), withServerID(tServer), withRequested("10.40.0.100"))
	dora := func() {
		s.ServeDHCP(w, disc, info)
		if t, _ := w.resp.MessageType(); t != rawdhcp.Offer {
			panic("no OFFER")
		}
		req.SetRequestedIP(w.resp.YIAddr)
		s.ServeDHCP(w, req, info)
		if t, _ := w.resp.MessageType(); t != rawdhcp.Ack {
			panic("no ACK")
		}
	}
	dora()
	if n := testing.AllocsPerRun(200, dora); n != 0 {
		t.Errorf("%.1f allocations per DORA of a returning client", n)
	}
}

//go:build linux

package rawdhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// raLab is pxe-edge's side (bridge br0 in srv, the RAConn on it) and two hosts on the
// bridge: cli, whose kernel has IPv6 off so that the test alone speaks there through a
// packet socket, and rd, a normal IPv6 host for ndisc6's rdisc6.
type raLab struct {
	srv, cli, rd *netlab.NS
	conn         *RAConn
	allow        *AllowList
	served       chan error
	cliSock      *packet.Conn
}

var rdMAC = MAC{0x52, 0x54, 0x00, 0x70, 0x99, 0x01}

func newRALab(t *testing.T) *raLab {
	t.Helper()
	l := netlab.New(t)
	x := &raLab{srv: l.Namespace("srv"), cli: l.Namespace("cli"), rd: l.Namespace("rd"), served: make(chan error, 1)}
	x.srv.Bridge("br0", "")
	for _, h := range []struct {
		ns   *netlab.NS
		port string
		mac  MAC
	}{{x.cli, "pcli", testCliMAC}, {x.rd, "prd", rdMAC}} {
		if h.ns == x.cli {
			// Before the link is up, so this kernel never solicits on its own.
			h.ns.MustRun("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
		}
		l.Veth(x.srv, h.port, "", h.ns, "eth0", "")
		x.srv.AttachToBridge(h.port, "br0")
		h.ns.MustRun("ip", "link", "set", "eth0", "down")
		h.ns.MustRun("ip", "link", "set", "eth0", "address", h.mac.String())
		h.ns.MustRun("ip", "link", "set", "eth0", "up")
	}
	x.allow = NewAllowList(16, time.Hour)
	if err := x.srv.Do(func() (err error) {
		x.conn, err = ListenRA("br0", &RAConfig{Allow: x.allow})
		return err
	}); err != nil {
		t.Fatalf("ListenRA: %v", err)
	}
	if err := x.cli.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		x.cliSock, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IPV6, nil)
		return err
	}); err != nil {
		t.Fatalf("client socket: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { x.served <- x.conn.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		x.conn.Close()
		x.cliSock.Close()
	})
	return x
}

// solicit sends a router solicitation from cli with IPv6 source src.
func (x *raLab) solicit(t *testing.T, src netip.Addr) {
	t.Helper()
	var opts []byte
	if !src.IsUnspecified() {
		opts = sllaOpt(testCliMAC)
	}
	f := makeRS(src, opts, nil, true)
	if _, err := x.cliSock.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}}); err != nil {
		t.Fatalf("send RS: %v", err)
	}
}

// advert waits up to wait for a router advertisement to cli's MAC and returns its frame.
func (x *raLab) advert(t *testing.T, wait time.Duration) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for {
		if err := x.cliSock.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := x.cliSock.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		f := buf[:n]
		if n >= 14+40+16 && MAC(f[0:6]) == testCliMAC && f[14+6] == protoICMPv6 && f[14+40] == icmp6RA {
			return append([]byte(nil), f...)
		}
	}
}

// checkAdvert checks an advertisement frame field by field.
func checkAdvert(t *testing.T, f []byte, srcMAC MAC, dst netip.Addr) {
	t.Helper()
	ip := f[14:]
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	gotDst := netip.AddrFrom16([16]byte(ip[24:40]))
	body := ip[40 : 40+int(binary.BigEndian.Uint16(ip[4:]))]
	switch {
	case MAC(f[6:12]) != srcMAC:
		t.Errorf("from Ethernet %v, want %v", MAC(f[6:12]), srcMAC)
	case !src.IsLinkLocalUnicast():
		t.Errorf("from %v, want a link-local address", src)
	case gotDst != dst:
		t.Errorf("to %v, want %v", gotDst, dst)
	case ip[7] != 255:
		t.Errorf("hop limit %d", ip[7])
	case icmp6Checksum(src, gotDst, body) != 0:
		t.Errorf("bad checksum")
	case body[5] != 0 || body[6] != 0 || body[7] != 0:
		t.Errorf("flags %#x lifetime %d", body[5], binary.BigEndian.Uint16(body[6:]))
	}
}

func TestRAConnLab(t *testing.T) {
	x := newRALab(t)
	srvMAC := MAC(x.conn.Interface().HardwareAddr)
	cliLL := LinkLocalFromMAC(testCliMAC)

	// Not on the allow list: nothing, however often it asks.
	x.solicit(t, cliLL)
	x.solicit(t, cliLL)
	if f := x.advert(t, time.Second); f != nil {
		t.Fatalf("a client not on the allow list got an advertisement")
	}
	// rd's kernel solicits too (not allowed either), so at least two.
	if s := x.conn.Stats(); s.NotAllowed < 2 || s.Advertised != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Allowed after it asked: answered at once, unicast, to its link-local address.
	x.conn.Allow(testCliMAC)
	f := x.advert(t, time.Second)
	if f == nil {
		t.Fatal("Allow did not answer the waiting solicitation")
	}
	checkAdvert(t, f, srvMAC, cliLL)

	// Asking again within the gap draws nothing; after it, one answer.
	x.solicit(t, cliLL)
	if f := x.advert(t, 500*time.Millisecond); f != nil {
		t.Fatal("answered twice within the gap")
	}
	time.Sleep(DefaultRAGap)
	x.solicit(t, cliLL)
	if f := x.advert(t, time.Second); f == nil {
		t.Fatal("no answer after the gap")
	} else {
		checkAdvert(t, f, srvMAC, cliLL)
	}

	// From the unspecified address: to all-nodes, still an Ethernet unicast (advert only
	// returns frames to cli's MAC).
	time.Sleep(DefaultRAGap)
	x.solicit(t, netip.IPv6Unspecified())
	if f := x.advert(t, time.Second); f == nil {
		t.Fatal("no answer to a solicitation from ::")
	} else {
		checkAdvert(t, f, srvMAC, AllNodes)
	}
	// The counter moves just after the frame left: wait for it briefly.
	s := x.conn.Stats()
	for deadline := time.Now().Add(2 * time.Second); s.Advertised < 3 && time.Now().Before(deadline); s = x.conn.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Advertised != 3 || s.Limited != 1 || s.Malformed != 0 || s.SendErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A real router on the link (here an advertisement with a lifetime, sent from cli) makes
// the RAConn stay silent: iPXE acts on the first advertisement it gets, which must be the
// router's. An advertisement that configures nothing (another pxe-edge's) does not.
func TestRAConnYieldsToRouter(t *testing.T) {
	x := newRALab(t)
	x.allow.Add(testCliMAC, time.Now())
	send := func(f []byte) {
		t.Helper()
		if _, err := x.cliSock.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
	}
	send(routerRA(0, 0, nil)) // another pxe-edge
	time.Sleep(200 * time.Millisecond)
	x.solicit(t, LinkLocalFromMAC(testCliMAC))
	if x.advert(t, time.Second) == nil {
		t.Fatal("an advertisement of lifetime 0 made the RAConn yield")
	}
	send(routerRA(1800, 0, nil))
	time.Sleep(200 * time.Millisecond)
	time.Sleep(DefaultRAGap)
	x.solicit(t, LinkLocalFromMAC(testCliMAC))
	if x.advert(t, time.Second) != nil {
		t.Fatal("answered although a router advertises on the link")
	}
	s := x.conn.Stats()
	for deadline := time.Now().Add(2 * time.Second); s.Yielded < 1 && time.Now().Before(deadline); s = x.conn.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Routers != 1 || s.Yielded != 1 || s.Advertised != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A link that goes down and up again does not end Serve; answers resume.
func TestRAConnLinkFlap(t *testing.T) {
	x := newRALab(t)
	x.allow.Add(testCliMAC, time.Now())
	x.srv.MustRun("ip", "link", "set", "br0", "down")
	time.Sleep(1500 * time.Millisecond)
	x.srv.MustRun("ip", "link", "set", "br0", "up")
	select {
	case err := <-x.served:
		x.served <- err
		t.Fatalf("Serve ended on a link flap: %v", err)
	case <-time.After(raReadTick + 500*time.Millisecond):
	}
	// The bridge forwards again once its ports are up.
	var f []byte
	for i := 0; i < 5 && f == nil; i++ {
		time.Sleep(DefaultRAGap)
		x.solicit(t, LinkLocalFromMAC(testCliMAC))
		f = x.advert(t, time.Second)
	}
	if f == nil {
		t.Fatalf("no answer after the link came back; stats %+v", x.conn.Stats())
	}
}

// rdisc6 (Debian's ndisc6) is a real IPv6 host's view: it checks hop limit 255 and the
// kernel checks the checksum before it sees the advertisement.
func TestRAConnRdisc6(t *testing.T) {
	netlab.RequireCommands(t, "rdisc6")
	x := newRALab(t)
	rdisc := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := x.rd.Run(ctx, "rdisc6", "-1", "-r", "2", "-w", "1200", "eth0")
		return string(out)
	}
	waitLinkLocal(t, x.rd, "eth0")
	if out := rdisc(); !strings.Contains(out, "No response") || strings.Contains(out, "Router lifetime") {
		t.Fatalf("rdisc6 from a MAC not on the allow list: want no response:\n%s", out)
	}
	x.conn.Allow(rdMAC)
	time.Sleep(DefaultRAGap) // the pending solicitation may just have been answered
	out := rdisc()
	for _, want := range []string{
		"Stateful address conf.    :           No",
		"Stateful other conf.      :           No",
		"Router lifetime           :            0 (0x00000000) seconds",
		"from " + x.conn.Source().String(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Prefix") {
		t.Errorf("the advertisement carries a prefix:\n%s", out)
	}
}

// waitLinkLocal waits (bounded) until dev in ns has a link-local address that finished
// duplicate address detection, so that rdisc6 can send from it.
func waitLinkLocal(t *testing.T, ns *netlab.NS, dev string) {
	t.Helper()
	for range 100 {
		out := ns.MustRun("ip", "-6", "addr", "show", "dev", dev, "scope", "link")
		if strings.Contains(out, "inet6 fe80::") && !strings.Contains(out, "tentative") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s has no usable link-local address:\n%s", dev, ns.MustRun("ip", "-6", "addr", "show", "dev", dev))
}

// Deleting the interface ends Serve with ErrInterfaceGone, so the daemon opens a new socket.
func TestRAConnInterfaceGone(t *testing.T) {
	x := newRALab(t)
	x.srv.MustRun("ip", "link", "del", "br0")
	select {
	case err := <-x.served:
		if !errors.Is(err, ErrInterfaceGone) {
			t.Fatalf("Serve returned %v, want ErrInterfaceGone", err)
		}
		x.served <- err // for the cleanup
	case <-time.After(3 * raReadTick):
		t.Fatal("Serve did not notice the interface was deleted")
	}
}

func TestListenRAErrors(t *testing.T) {
	if _, err := ListenRA("lo", nil); err == nil {
		t.Error("ListenRA without an allow list succeeded")
	}
	if _, err := ListenRA("pxet-no-such-if", &RAConfig{Allow: NewAllowList(1, time.Second)}); err == nil {
		t.Error("ListenRA on a missing interface succeeded")
	}
}

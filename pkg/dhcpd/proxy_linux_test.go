//go:build linux

package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
	"golang.org/x/sys/unix"
)

// udpIn opens a UDP socket inside ns bound to laddr on device dev, with SO_BROADCAST.
func udpIn(t *testing.T, ns *netlab.NS, dev, laddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := ns.Do(func() error {
		lc := net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
					return
				}
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
					return
				}
				serr = unix.BindToDevice(int(fd), dev)
			})
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", laddr)
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pxeRequest builds a PXE firmware message (option 60, 93, 94, 97) for arch.
func pxeRequest(typ rawdhcp.MessageType, hw net.HardwareAddr, arch uint16) *rawdhcp.Message {
	var m rawdhcp.Message
	m.Op = rawdhcp.BootRequest
	m.SetHardwareAddr(hw)
	m.XID = uint32(0x50580000) | uint32(arch)
	m.Flags = rawdhcp.FlagBroadcast
	m.SetMessageType(typ)
	m.SetMaxMessageSize(1464)
	m.SetParamRequestList(1, 3, 43, 60, 66, 67, 97, 128, 129)
	m.SetClientArchs(arch)
	m.Options.Set(rawdhcp.OptClientNDI, []byte{1, 3, 0})
	m.SetClientMachineID([]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, byte(arch)})
	m.SetVendorClass(fmt.Sprintf("PXEClient:Arch:%05d:UNDI:003000", arch))
	return &m
}

type seen struct {
	from netip.AddrPort
	msg  rawdhcp.Message
}

// exchange sends m to dst from c, again every 700 ms as firmware retries, and collects
// every reply with m's xid until wait passes.
func exchange(t *testing.T, c *net.UDPConn, m *rawdhcp.Message, dst netip.AddrPort, wait time.Duration) []seen {
	return exchangeUntil(t, c, m, dst, wait, nil)
}

// exchangeUntil is exchange that stops early once enough(replies) holds.
func exchangeUntil(t *testing.T, c *net.UDPConn, m *rawdhcp.Message, dst netip.AddrPort, wait time.Duration, enough func([]seen) bool) []seen {
	t.Helper()
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) < 300 {
		b = append(b, 0)
	}
	var out []seen
	buf := make([]byte, 1500)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && (enough == nil || !enough(out)) {
		if _, err := c.WriteToUDPAddrPort(b, dst); err != nil {
			t.Fatalf("send to %v: %v", dst, err)
		}
		next := time.Now().Add(700 * time.Millisecond)
		if deadline.Before(next) {
			next = deadline
		}
		_ = c.SetReadDeadline(next)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				t.Fatal(err)
			}
			var r seen
			if r.msg.Decode(buf[:n]) != nil || r.msg.XID != m.XID || r.msg.Op != rawdhcp.BootReply {
				continue
			}
			r.from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			out = append(out, r)
		}
	}
	return out
}

const udhcpdConf = `start 10.40.0.10
end 10.40.0.20
interface eth0
lease_file %[1]s/udhcpd.leases
pidfile %[1]s/udhcpd.pid
option subnet 255.255.255.0
option lease 600
`

// udhcpd is busybox udhcpd, the "other" DHCP server, running in its own namespace.
//
// busybox udhcpd 1.35 in these labs sometimes stops answering for good after it sent an
// OFFER (captured: DISCOVERs keep arriving on its interface, no OFFER and no log line
// follow). Tests therefore check that it answers (from another namespace, with Detect)
// and restart it when it has gone deaf; what they assert about pxe-edge is unaffected.
type udhcpd struct {
	t        *testing.T
	ns, from *netlab.NS
	dir      string
	p        *netlab.Proc
}

// startUdhcpd starts udhcpd in ns on eth0 and waits until it answers a DISCOVER sent
// from the namespace from.
func startUdhcpd(t *testing.T, ns, from *netlab.NS) *udhcpd {
	t.Helper()
	u := &udhcpd{t: t, ns: ns, from: from, dir: t.TempDir()}
	if err := os.WriteFile(u.dir+"/udhcpd.conf", []byte(fmt.Sprintf(udhcpdConf, u.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	u.restart()
	return u
}

// restart (re)starts udhcpd until it answers, at most three times.
func (u *udhcpd) restart() {
	u.t.Helper()
	for attempt := range 3 {
		if u.p != nil {
			u.p.Kill()
		}
		if err := os.WriteFile(u.dir+"/udhcpd.leases", nil, 0o644); err != nil {
			u.t.Fatal(err)
		}
		// -a 100: udhcpd ARP-pings an address for 2 s by default before offering it.
		u.p = u.ns.Start("busybox", "udhcpd", "-f", "-a", "100", u.dir+"/udhcpd.conf")
		time.Sleep(300 * time.Millisecond) // let it open its socket
		if u.detect().Found {
			time.Sleep(time.Second) // a DISCOVER right after its OFFER is what makes it deaf
			return
		}
		u.t.Logf("udhcpd attempt %d does not answer; restarting it:\n%s", attempt+1, u.p.Output())
	}
	u.t.Fatal("busybox udhcpd never answered a DISCOVER")
}

// detect runs Detect in the from namespace.
func (u *udhcpd) detect() rawdhcp.DetectResult {
	u.t.Helper()
	var r rawdhcp.DetectResult
	err := u.from.Do(func() error {
		var err error
		r, err = rawdhcp.Detect(context.Background(), "eth0", 3*time.Second)
		return err
	})
	if err != nil {
		u.t.Fatal(err)
	}
	return r
}

// TestProxyBesideUdhcpd: ProxyDHCP on 67 beside busybox udhcpd, then the 4011 service.
// BIOS (arch 0) gets option 43; UEFI (arch 7) gets none, and its REQUEST to port 4011 is
// answered from source port 4011 with siaddr, file, 60 and 97.
func TestProxyBesideUdhcpd(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "dhcp", "cli"}, []string{"10.40.0.1/24", "10.40.0.2/24", ""})
	srv, other, cli := ns[0], ns[1], ns[2]
	hw := net.HardwareAddr{0x02, 0x40, 0, 0, 0x06, 0x01}
	cli.MustRun("ip", "link", "set", "eth0", "address", hw.String())
	otherSrv := startUdhcpd(t, other, srv)
	cfg := labConfig()
	cfg.Mode = ModeProxy
	s, _ := labServer(t, srv, "eth0", cfg)

	c := udpIn(t, cli, "eth0", "0.0.0.0:68")
	bcast := netip.MustParseAddrPort("255.255.255.255:67")
	for _, tc := range []struct {
		arch   uint16
		want43 bool
	}{{0, true}, {7, false}} {
		both := func(rs []seen) bool {
			n := map[string]bool{}
			for _, r := range rs {
				sid, _ := r.msg.ServerID()
				n[sid.String()] = true
			}
			return n["10.40.0.1"] && n["10.40.0.2"]
		}
		var fromOther, proxy *rawdhcp.Message
		for attempt := 0; fromOther == nil && attempt < 3; attempt++ {
			if attempt > 0 {
				otherSrv.restart() // udhcpd went deaf (see udhcpd)
			}
			replies := exchangeUntil(t, c, pxeRequest(rawdhcp.Discover, hw, tc.arch), bcast, 4*time.Second, both)
			for i := range replies {
				sid, _ := replies[i].msg.ServerID()
				switch sid.String() {
				case "10.40.0.2":
					fromOther = &replies[i].msg
				case "10.40.0.1":
					proxy = &replies[i].msg
				}
			}
			if proxy == nil {
				t.Fatalf("arch %d: no proxy OFFER (%d replies)", tc.arch, len(replies))
			}
		}
		if fromOther == nil || !fromOther.YIAddr.IsValid() || fromOther.YIAddr.IsUnspecified() {
			t.Fatalf("arch %d: no address OFFER from udhcpd", tc.arch)
		}
		if proxy == nil {
			t.Fatalf("arch %d: no proxy OFFER", tc.arch)
		}
		if !proxy.YIAddr.IsUnspecified() || proxy.SIAddr != tServer || len(proxy.FileName()) == 0 {
			t.Fatalf("arch %d: proxy OFFER yiaddr %v siaddr %v file %q", tc.arch, proxy.YIAddr, proxy.SIAddr, proxy.FileName())
		}
		if string(proxy.VendorClass()) != "PXEClient" {
			t.Fatalf("arch %d: option 60 %q", tc.arch, proxy.VendorClass())
		}
		if v, ok := proxy.ClientMachineID(); !ok || v[16] != byte(tc.arch) {
			t.Fatalf("arch %d: option 97 not echoed", tc.arch)
		}
		if _, has43 := proxy.VendorSpecific(); has43 != tc.want43 {
			t.Fatalf("arch %d: option 43 present = %v, want %v", tc.arch, has43, tc.want43)
		}
		time.Sleep(time.Second) // see startUdhcpd: no DISCOVER right after udhcpd's OFFER
	}
	// A plain DHCP client gets nothing from the proxy.
	var plain rawdhcp.Message
	plain.Op, plain.XID, plain.Flags = rawdhcp.BootRequest, 0x1234, rawdhcp.FlagBroadcast
	plain.SetHardwareAddr(hw)
	plain.SetMessageType(rawdhcp.Discover)
	for _, r := range exchange(t, c, &plain, bcast, 1500*time.Millisecond) {
		if sid, _ := r.msg.ServerID(); sid == tServer {
			t.Fatal("proxy answered a non-PXE client")
		}
	}
	c.Close()

	// The UEFI client takes udhcpd's address and asks the boot server on 4011.
	cli.MustRun("ip", "addr", "add", "10.40.0.50/24", "dev", "eth0")
	c2 := udpIn(t, cli, "eth0", "10.40.0.50:68")
	req := pxeRequest(rawdhcp.Request, hw, 7)
	req.Flags = 0
	req.CIAddr = netip.MustParseAddr("10.40.0.50")
	req.SetServerID(tServer)
	replies := exchange(t, c2, req, netip.MustParseAddrPort("10.40.0.1:4011"), 600*time.Millisecond)
	if len(replies) != 1 {
		t.Fatalf("%d replies on 4011", len(replies))
	}
	ack := &replies[0].msg
	if replies[0].from.String() != "10.40.0.1:4011" {
		t.Fatalf("4011 answer from %v, want source port 4011", replies[0].from)
	}
	if mt, _ := ack.MessageType(); mt != rawdhcp.Ack || ack.SIAddr != tServer || len(ack.BootFileName()) == 0 ||
		string(ack.VendorClass()) != "PXEClient" || ack.CIAddr.String() != "10.40.0.50" {
		t.Fatalf("4011 ACK: type %v siaddr %v file %q 60 %q ciaddr %v", mt, ack.SIAddr, ack.BootFileName(), ack.VendorClass(), ack.CIAddr)
	}
	if v, ok := ack.ClientMachineID(); !ok || len(v) != 17 {
		t.Fatal("4011 ACK without option 97")
	}
	st := s.Stats()
	if st.ProxyOffers < 2 || st.ProxyAcks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDetect: the auto-mode probe finds udhcpd (its address, MAC and the address it
// offered), and finds nothing once it is gone, within its timeout.
func TestDetect(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "dhcp"}, []string{"10.40.0.1/24", "10.40.0.2/24"})
	srv, other := ns[0], ns[1]
	u := startUdhcpd(t, other, srv) // already saw one answer through Detect
	var r rawdhcp.DetectResult
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			u.restart() // udhcpd went deaf (see udhcpd)
		}
		if r = u.detect(); r.Found {
			break
		}
	}
	otherMAC := other.MustRun("cat", "/sys/class/net/eth0/address")
	if !r.Found || r.Server.String() != "10.40.0.2" || r.Relay.String() != "10.40.0.2" ||
		!r.Offered.IsValid() || r.ServerMAC.String() != strings.TrimSpace(otherMAC) {
		t.Fatalf("with udhcpd: %+v (udhcpd MAC %s)", r, otherMAC)
	}
	u.p.Kill()
	start := time.Now()
	if r := u.detect(); r.Found {
		t.Fatalf("without udhcpd: %+v", r)
	}
	if el := time.Since(start); el > 6*time.Second {
		t.Fatalf("Detect overran its 3 s timeout: %v", el)
	}
}

// TestRogueServerWarning: while we serve full DHCP, another server's OFFER seen on the link
// is reported with its address and MAC, once per interval. The other server is scripted
// (a broadcast OFFER from 10.40.0.2:67 in its own namespace) so the test does not depend
// on when a real peer decides to answer.
func TestRogueServerWarning(t *testing.T) {
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "dhcp"}, []string{"10.40.0.1/24", "10.40.0.2/24"})
	srv, other := ns[0], ns[1]
	otherMAC := net.HardwareAddr{0x02, 0x40, 0, 0, 0x07, 0x02}
	other.MustRun("ip", "link", "set", "eth0", "address", otherMAC.String())
	s, logs := labServer(t, srv, "eth0", labConfig())
	c := udpIn(t, other, "eth0", "10.40.0.2:67")
	var o rawdhcp.Message
	o.Op, o.XID, o.Flags = rawdhcp.BootReply, 0x7070, rawdhcp.FlagBroadcast
	o.SetHardwareAddr(net.HardwareAddr{0x02, 0x40, 0, 0, 0x07, 0x01})
	o.YIAddr = netip.MustParseAddr("10.40.0.10")
	o.CIAddr, o.SIAddr, o.GIAddr = netip.IPv4Unspecified(), netip.IPv4Unspecified(), netip.IPv4Unspecified()
	o.SetMessageType(rawdhcp.Offer)
	o.SetServerID(netip.MustParseAddr("10.40.0.2"))
	o.SetLeaseTime(time.Hour)
	b, err := o.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && len(s.Rogues()) == 0; i++ {
		if _, err := c.WriteToUDPAddrPort(b, netip.MustParseAddrPort("255.255.255.255:68")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// More of the same within the interval: still one warning.
	for range 3 {
		_, _ = c.WriteToUDPAddrPort(b, netip.MustParseAddrPort("255.255.255.255:68"))
	}
	if !waitFor(time.Second, func() bool { return len(s.Rogues()) > 0 && s.Rogues()[0].Count >= 2 }) {
		t.Fatalf("rogue server not recorded: %+v", s.Rogues())
	}
	r := s.Rogues()[0]
	if r.Addr.String() != "10.40.0.2" || r.MAC.String() != otherMAC.String() {
		t.Fatalf("rogue %+v", r)
	}
	if n := countSubstr(logs.String(), "another DHCP server"); n != 1 {
		t.Fatalf("%d rogue warnings, want exactly 1 per interval", n)
	}
	// In proxy mode another server is expected: no warning, no record.
	s.SetMode(ModeProxy)
	time.Sleep(200 * time.Millisecond) // let frames already in flight land
	before := s.Rogues()[0].Count
	for range 3 {
		_, _ = c.WriteToUDPAddrPort(b, netip.MustParseAddrPort("255.255.255.255:68"))
	}
	time.Sleep(300 * time.Millisecond)
	if s.Rogues()[0].Count != before {
		t.Fatal("rogue watch counted while in proxy mode")
	}
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; ; {
		j := indexFrom(s, sub, i)
		if j < 0 {
			return n
		}
		n++
		i = j + len(sub)
	}
}

func indexFrom(s, sub string, i int) int {
	if i > len(s) {
		return -1
	}
	for k := i; k+len(sub) <= len(s); k++ {
		if s[k:k+len(sub)] == sub {
			return k
		}
	}
	return -1
}

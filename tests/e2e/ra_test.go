package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// iPXE's autoconfiguration waits for an IPv6 router advertisement after its DHCP; pxe-edge
// answers the router solicitations of iPXE clients (and only theirs) with an advertisement
// that ends the wait (--ipxe-ra, on by default). These tests boot real iPXE (the BIOS ROM,
// and ipxe.efi under OVMF) and check on an ICMPv6 capture of br0 that the guest's
// solicitation got a unicast advertisement of lifetime 0 with M=O=0, and that iPXE went on
// to its script; a second test checks with ndisc6's rdisc6 that a client which is not iPXE
// gets nothing. With E2E_RA_BASELINE=1 each boot also runs with --no-ipxe-ra and both times
// from iPXE's banner to its script are logged (docs/bench/ipxe-ra.md); they are figures,
// never asserted.

// ipxeBanner is the line iPXE prints when it starts running (BIOS ROM and ipxe.efi alike).
const ipxeBanner = "Open Source Network Boot Firmware"

// scriptReached is the first line of netboot/boot.ipxe.
const scriptReached = "pxe-edge: boot.ipxe reached"

func TestIPXERouterAdvertBIOS(t *testing.T) {
	testIPXERA(t, 46, "bios", "52:54:00:70:46:10", func(e *env, mac string) []string { return biosGuest(t, e.tap(), mac) })
}

func TestIPXERouterAdvertUEFI(t *testing.T) {
	testIPXERA(t, 47, "ovmf", "52:54:00:70:47:10", func(e *env, mac string) []string { return ovmfGuest(t, e.tap(), mac) })
}

// testIPXERA boots the guest with the advertisement on (asserted) and, with
// E2E_RA_BASELINE=1, off (measured only).
func testIPXERA(t *testing.T, n int, name, mac string, argv func(*env, string) []string) {
	on := raBoot(t, n, name, mac, true, argv)
	if os.Getenv("E2E_RA_BASELINE") == "" {
		t.Logf("%s: iPXE banner → script %v with --ipxe-ra (E2E_RA_BASELINE=1 also boots without)", name, on.Round(100*time.Millisecond))
		return
	}
	off := raBoot(t, n, name, mac, false, argv)
	t.Logf("%s: iPXE banner → script: %v with --ipxe-ra, %v with --no-ipxe-ra (%v shorter)", name,
		on.Round(100*time.Millisecond), off.Round(100*time.Millisecond), (off - on).Round(100*time.Millisecond))
}

// raBoot boots one guest to boot.ipxe and returns the time from iPXE's banner to the
// script's first line on its console.
func raBoot(t *testing.T, n int, name, mac string, ra bool, argv func(*env, string) []string) time.Duration {
	e := newEnv(t, n)
	requireRAFlag(t)
	flag := "--ipxe-ra"
	if !ra {
		flag = "--no-ipxe-ra"
	}
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", flag)
	capt := startICMPv6Capture(t, e.srv, "br0")
	g := e.startGuest(name, argv(e, mac)...)
	seen := watchConsole(g, ipxeBanner, scriptReached)
	g.wait(scriptReached, guestTimeout)
	frames := capt.stop()
	took := seen.between(ipxeBanner, scriptReached)

	guest, _ := net.ParseMAC(mac)
	srvMAC := interfaceMAC(t, e.srv, "br0")
	rs, ras := 0, 0
	for _, f := range frames {
		m, ok := parseNDP(f)
		if !ok {
			continue
		}
		switch {
		case m.typ == 133 && bytes.Equal(m.ethSrc[:], guest):
			if rs == 0 && ra && *update {
				// pkg/rawdhcp's codec tests and fuzz seeds start from real iPXE solicitations.
				dst := filepath.Join(netlab.ModuleRoot(t), "pkg", "rawdhcp", "testdata", "ra", "ipxe-"+name+"-rs.frame")
				writeFile(t, dst, f)
				t.Logf("%s: first router solicitation written to %s", name, dst)
			}
			rs++
		case m.typ == 134:
			if !ra {
				t.Errorf("%s --no-ipxe-ra: an advertisement was sent: %+v", name, m)
				continue
			}
			if rs == 0 {
				t.Errorf("%s: advertisement before any solicitation of the guest: %+v", name, m)
			}
			checkRA(t, m, guest, srvMAC)
			ras++
		}
	}
	if rs == 0 {
		t.Errorf("%s: the capture holds no router solicitation from iPXE (%d frames)", name, len(frames))
	}
	if ra {
		if ras == 0 {
			t.Errorf("%s: no router advertisement answered iPXE's solicitations (%d solicitations)\n%s", name, rs, p.Output())
		}
		if !regexp.MustCompile(`msg="router advertisement sent" .*mac=` + mac).MatchString(p.Output()) {
			t.Errorf("%s: pxe-edge did not log the advertisement to %s:\n%s", name, mac, p.Output())
		}
	}
	t.Logf("%s ra=%v: %d solicitations, %d advertisements; banner → script %v", name, ra, rs, ras, took.Round(100*time.Millisecond))
	return took
}

// checkRA checks one captured advertisement: to the guest's MAC only, from br0's MAC and
// a link-local address, hop limit 255, a right ICMPv6 checksum, M=O=0, router lifetime 0
// and no prefix option.
func checkRA(t *testing.T, m ndpMsg, guest, srv net.HardwareAddr) {
	t.Helper()
	switch {
	case !bytes.Equal(m.ethDst[:], guest):
		t.Errorf("advertisement to Ethernet %x, want the guest %v only", m.ethDst, guest)
	case !bytes.Equal(m.ethSrc[:], srv):
		t.Errorf("advertisement from Ethernet %x, want br0 %v", m.ethSrc, srv)
	case m.src[0] != 0xfe || m.src[1]&0xc0 != 0x80:
		t.Errorf("advertisement from %x, want a link-local address", m.src)
	case m.hopLimit != 255:
		t.Errorf("advertisement hop limit %d, want 255", m.hopLimit)
	case !m.checksumOK:
		t.Errorf("advertisement has a wrong ICMPv6 checksum")
	case len(m.body) < 16:
		t.Errorf("advertisement of %d bytes", len(m.body))
	case m.body[5]&0xc0 != 0:
		t.Errorf("advertisement flags %#x: managed/other-config set", m.body[5])
	case binary.BigEndian.Uint16(m.body[6:8]) != 0:
		t.Errorf("advertisement router lifetime %d, want 0", binary.BigEndian.Uint16(m.body[6:8]))
	}
	for o := m.body[16:]; len(o) >= 2 && o[1] > 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == 3 {
			t.Errorf("advertisement carries a prefix option")
		}
	}
}

// TestRANotForOthers: on one bridge, a client whose DHCP request says "iPXE" (busybox
// udhcpc with user class iPXE) gets an advertisement when it solicits with ndisc6's rdisc6;
// a client that did ordinary DHCP and a client that did none get nothing, and a capture on
// their own interfaces shows no advertisement reaching them.
func TestRANotForOthers(t *testing.T) {
	e := newEnv(t, 48)
	requireRAFlag(t)
	netlab.RequireCommands(t, "rdisc6", "busybox", "tshark")
	e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	hosts := []struct {
		name, mac string
		dhcp      []string // udhcpc options; nil = no DHCP
		want      bool
	}{
		{"ipxe", "52:54:00:70:48:10", []string{"-x", "0x4d:69505845"}, true},
		{"plain", "52:54:00:70:48:11", []string{}, false},
		{"silent", "52:54:00:70:48:12", nil, false},
	}
	nss := make([]*netlab.NS, len(hosts))
	for i, h := range hosts {
		ns := e.lab.Namespace(h.name)
		nss[i] = ns
		e.lab.Veth(e.srv, "v"+h.name, "", ns, "eth0", "")
		e.srv.AttachToBridge("v"+h.name, "br0")
		ns.MustRun("ip", "link", "set", "eth0", "down")
		ns.MustRun("ip", "link", "set", "eth0", "address", h.mac)
		ns.MustRun("ip", "link", "set", "eth0", "up")
	}
	for i, h := range hosts {
		ns := nss[i]
		capt := startICMPv6Capture(t, ns, "eth0")
		if h.dhcp != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			argv := append([]string{"busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", "/bin/true"}, h.dhcp...)
			out, err := ns.Run(ctx, argv...)
			cancel()
			if err != nil {
				t.Fatalf("%s: udhcpc: %v\n%s", h.name, err, out)
			}
		}
		waitLinkLocal(t, ns, "eth0")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := ns.Run(ctx, "rdisc6", "-1", "-r", "3", "-w", "1500", "eth0")
		cancel()
		got := err == nil && strings.Contains(string(out), "Router lifetime")
		frames := capt.stop()
		ras := 0
		for _, f := range frames {
			if m, ok := parseNDP(f); ok && m.typ == 134 {
				ras++
				if h.want {
					checkRA(t, m, mustMAC(h.mac), interfaceMAC(t, e.srv, "br0"))
				}
			}
		}
		t.Logf("%s (%s): rdisc6 answered=%v, advertisements captured on its eth0: %d", h.name, h.mac, got, ras)
		switch {
		case h.want && !got:
			t.Errorf("%s: rdisc6 got no advertisement (err %v):\n%s\n%s", h.name, err, out, e.pxe.Output())
		case h.want && !(strings.Contains(string(out), "Router lifetime           :            0 (0x00000000) seconds") &&
			strings.Contains(string(out), "Stateful address conf.    :           No") &&
			strings.Contains(string(out), "Stateful other conf.      :           No")):
			t.Errorf("%s: the advertisement rdisc6 saw is not lifetime 0 with M=O=0:\n%s", h.name, out)
		case !h.want && !strings.Contains(string(out), "No response"):
			t.Errorf("%s: rdisc6 did not solicit and time out:\n%s", h.name, out)
		case !h.want && (got || ras > 0):
			t.Errorf("%s: a client that is not iPXE received an advertisement (rdisc6 answered=%v, captured %d):\n%s", h.name, got, ras, out)
		}
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

// requireRAFlag skips (fails under CI) when the binary under test has no --ipxe-ra: the
// responder is wired into the daemon by internal/config and daemon.Run.
func requireRAFlag(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(serverBinary(t), "--help").CombinedOutput()
	if !strings.Contains(string(out), "--ipxe-ra") {
		netlab.Missing(t, "the pxe-edge under test has no --ipxe-ra flag (the RA service is not wired into the daemon)")
	}
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// interfaceMAC is the MAC of dev inside ns.
func interfaceMAC(t *testing.T, ns *netlab.NS, dev string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// icmpCapture is tshark writing router solicitations and advertisements on one interface.
type icmpCapture struct {
	t    *testing.T
	path string
	proc *netlab.Proc
}

func startICMPv6Capture(t *testing.T, ns *netlab.NS, dev string) *icmpCapture {
	t.Helper()
	netlab.RequireCommands(t, "tshark")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // dumpcap may drop privileges
		t.Fatal(err)
	}
	c := &icmpCapture{t: t, path: filepath.Join(dir, "ndp.pcap")}
	c.proc = ns.Start("tshark", "-n", "-i", dev, "-f", "icmp6 and (ip6[40] == 133 or ip6[40] == 134)",
		"-a", "duration:"+fmt.Sprint(int(2*guestTimeout/time.Second)), "-F", "pcap", "-w", c.path)
	if !c.proc.WaitOutput("Capture started", 20*time.Second) {
		t.Fatalf("tshark did not start:\n%s", c.proc.Output())
	}
	time.Sleep(200 * time.Millisecond)
	return c
}

// stop ends the capture and returns its frames.
func (c *icmpCapture) stop() [][]byte {
	c.t.Helper()
	stopCapture(c.proc)
	b, err := os.ReadFile(c.path)
	if err != nil {
		c.t.Fatalf("capture: %v\n%s", err, c.proc.Output())
	}
	frames, err := pcapFrames(b)
	if err != nil {
		c.t.Fatalf("capture: %v", err)
	}
	return frames
}

// pcapFrames returns the Ethernet frames of a classic pcap file.
func pcapFrames(b []byte) ([][]byte, error) {
	if len(b) < 24 {
		return nil, errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a pcap file")
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	var out [][]byte
	for b = b[24:]; len(b) >= 16; {
		n := int(bo.Uint32(b[8:]))
		if n > len(b)-16 {
			return nil, errors.New("truncated pcap record")
		}
		out = append(out, b[16:16+n])
		b = b[16+n:]
	}
	return out, nil
}

// ndpMsg is one ICMPv6 message of a captured frame, decoded by the test on its own (an
// oracle apart from pkg/rawdhcp's codec).
type ndpMsg struct {
	ethDst, ethSrc [6]byte
	src, dst       [16]byte
	hopLimit       byte
	typ            byte
	body           []byte // the ICMPv6 message
	checksumOK     bool
}

func parseNDP(f []byte) (ndpMsg, bool) {
	var m ndpMsg
	if len(f) < 14+40+4 || binary.BigEndian.Uint16(f[12:]) != 0x86dd || f[14+6] != 58 {
		return m, false
	}
	copy(m.ethDst[:], f[0:6])
	copy(m.ethSrc[:], f[6:12])
	ip := f[14:]
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if plen > len(ip)-40 {
		return m, false
	}
	m.hopLimit = ip[7]
	copy(m.src[:], ip[8:24])
	copy(m.dst[:], ip[24:40])
	m.body = ip[40 : 40+plen]
	m.typ = m.body[0]
	// RFC 4443 §2.3: the sum over the pseudo-header and the message is 0xffff.
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	add(m.src[:])
	add(m.dst[:])
	s += uint32(plen) + 58
	add(m.body)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	m.checksumOK = s == 0xffff
	return m, true
}

// consoleTimes records when markers first appeared on a guest's console.
type consoleTimes struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// watchConsole polls g's console every 50 ms until every marker was seen or the guest
// ends (bounded by guestTimeout).
func watchConsole(g *guest, markers ...string) *consoleTimes {
	ct := &consoleTimes{seen: map[string]time.Time{}}
	go func() {
		deadline := time.Now().Add(guestTimeout)
		for time.Now().Before(deadline) {
			c := g.Console()
			now := time.Now()
			ct.mu.Lock()
			for _, m := range markers {
				if _, ok := ct.seen[m]; !ok && strings.Contains(c, m) {
					ct.seen[m] = now
				}
			}
			all := len(ct.seen) == len(markers)
			ct.mu.Unlock()
			if all {
				return
			}
			select {
			case <-g.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return ct
}

// between is the time from marker a to marker b (0 when either was not seen); it waits up
// to a second for the watcher to catch up with a marker the caller already saw.
func (ct *consoleTimes) between(a, b string) time.Duration {
	for range 20 {
		ct.mu.Lock()
		ta, okA := ct.seen[a]
		tb, okB := ct.seen[b]
		ct.mu.Unlock()
		if okA && okB {
			return tb.Sub(ta)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0
}

// stopCapture ends a capture (tshark or dumpcap) with SIGINT. libpcap hands the capturer
// packets a buffer block at a time, up to a second late, and a capturer stopped by a signal
// drops the block in progress: the last one gets time to arrive first.
func stopCapture(p *netlab.Proc) {
	time.Sleep(2 * time.Second)
	p.Signal(syscall.SIGINT)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

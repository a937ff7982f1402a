//go:build linux

package rawdhcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// testServer is the smallest handler that leads a real client through DORA: one fixed
// address per subnet (chosen by giaddr), no pool.
type testServer struct {
	mu   sync.Mutex
	seen []MessageType
}

func (s *testServer) saw(typ MessageType) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.seen {
		if t == typ {
			return true
		}
	}
	return false
}

func (s *testServer) ServeDHCP(w ResponseWriter, req *Message, info *PacketInfo) {
	typ, ok := req.MessageType()
	if !ok {
		return
	}
	s.mu.Lock()
	s.seen = append(s.seen, typ)
	s.mu.Unlock()
	server := netip.MustParseAddr("10.30.0.1")
	yiaddr, router := netip.MustParseAddr("10.30.0.50"), server
	if nonzero(req.GIAddr) {
		server = netip.MustParseAddr("10.30.2.2")
		yiaddr, router = netip.MustParseAddr("10.30.1.50"), req.GIAddr
	}
	var resp Message
	switch typ {
	case Discover:
		resp.InitReply(req, Offer)
	case Request:
		if ip, ok := req.RequestedIP(); ok && ip != yiaddr || !ok && req.CIAddr != yiaddr {
			resp.InitReply(req, Nak)
			resp.SetServerID(server)
			_ = w.Reply(&resp)
			return
		}
		resp.InitReply(req, Ack)
	case Inform:
		resp.InitReply(req, Ack)
		resp.CIAddr = req.CIAddr
		resp.SetServerID(server)
		resp.SetBootFileName("inform.txt")
		_ = w.Reply(&resp)
		return
	default:
		return
	}
	resp.YIAddr = yiaddr
	resp.SetServerID(server)
	resp.SetLeaseTime(time.Hour)
	resp.SetSubnetMask(24)
	resp.SetRouters(router)
	if rai, ok := req.RelayAgentInfo(); ok {
		resp.SetRelayAgentInfo(rai)
	}
	_ = w.Reply(&resp)
}

// startConn opens a Conn inside ns (every socket lands there) and serves h until the test
// ends.
func startConn(t testing.TB, ns *netlab.NS, ifname string, cfg *Config, h Handler) *Conn {
	t.Helper()
	var c *Conn
	if err := ns.Do(func() (err error) { c, err = Listen(ifname, cfg); return err }); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Handler: h, Workers: 2}).Serve(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// startCapture runs tshark in ns on ifname and returns a function that waits for it (count
// packets or the timeout) and returns the pcap's frames. count 0 captures until that function
// is called, which then stops tshark. kernelUDP says the capture holds
// UDP built by the kernel on a veth (checksum left to offload, so only partial on the wire).
func startCapture(t *testing.T, ns *netlab.NS, ifname string, count int, kernelUDP bool) func() []pcapFrame {
	t.Helper()
	dir := t.TempDir()
	if err := chmodAll(dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cap.pcap")
	stopEarly := count == 0
	if stopEarly {
		count = 1000
	}
	p := ns.Start("tshark", "-n", "-i", ifname, "-f", "udp port 67 or udp port 68", "-F", "pcap", "-w", file,
		"-c", itoa(count), "-a", "duration:60")
	if !p.WaitOutput("Capture started", 20*time.Second) {
		t.Fatalf("tshark did not start:\n%s", p.Output())
	}
	return func() []pcapFrame {
		if stopEarly {
			_ = p.Stop(5 * time.Second)
		}
		select {
		case <-p.Done():
		case <-time.After(65 * time.Second):
			t.Fatal("tshark did not finish")
		}
		frames, err := readPcap(file)
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Output())
		}
		checkTsharkChecksums(t, file, !kernelUDP)
		return frames
	}
}

// checkTsharkChecksums has Wireshark verify every IPv4 and UDP checksum in the capture.
func checkTsharkChecksums(t *testing.T, file string, checkUDP bool) {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", file, "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-T", "fields", "-e", "ip.src", "-e", "ip.checksum.status", "-e", "udp.checksum.status").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		// 1 = good; UDP 3 = not present (checksum 0), which clients may send.
		if len(f) != 3 || f[1] != "1" || checkUDP && f[2] != "1" && f[2] != "3" {
			t.Errorf("tshark checksum check failed: %q", line)
		}
	}
}

type sent struct {
	frame pcapFrame
	h     IPv4UDP
	m     Message
}

// repliesFrom decodes the DHCP replies sent from port 67 or 4011 in frames.
func repliesFrom(t *testing.T, frames []pcapFrame, checkUDP bool) []sent {
	t.Helper()
	var out []sent
	for _, f := range frames {
		h, payload, err := parseIPv4UDP(f.ip, checkUDP)
		if err != nil {
			t.Errorf("captured frame does not parse: %v", err)
			continue
		}
		if h.Src.Port() != ServerPort && h.Src.Port() != PXEServicePort || len(payload) == 0 || OpCode(payload[0]) != BootReply {
			continue
		}
		var s sent
		s.frame, s.h = f, h
		if err := s.m.Decode(payload); err != nil {
			t.Errorf("captured reply does not decode: %v", err)
			continue
		}
		if len(payload) < MinReplyLen {
			t.Errorf("reply payload %d bytes < %d", len(payload), MinReplyLen)
		}
		out = append(out, s)
	}
	return out
}

// TestConnRealClients leads real DHCP clients through DORA with the Conn and a test handler
// and checks, on a tshark capture, how each OFFER and ACK was addressed.
func TestConnRealClients(t *testing.T) {
	netlab.RequireCommands(t, "tshark")
	for _, tc := range []struct {
		name      string
		cmds      []string
		argv      func(dir string) []string
		broadcast bool
		done      string
		cidr      string // client address (nmap needs one to choose the interface)
		chaddr    string // chaddr the client sends if not its own MAC (nmap's is fixed)
		replies   int    // 0: OFFER and ACK
	}{
		{name: "udhcpc unicast", cmds: []string{"busybox"}, done: "lease of 10.30.0.50 obtained",
			argv: func(string) []string {
				return []string{"busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "4", "-T", "2", "-s", "/bin/true"}
			}},
		{name: "udhcpc broadcast flag", cmds: []string{"busybox"}, broadcast: true, done: "lease of 10.30.0.50 obtained",
			argv: func(string) []string {
				return []string{"busybox", "udhcpc", "-B", "-i", "eth0", "-f", "-q", "-n", "-t", "4", "-T", "2", "-s", "/bin/true"}
			}},
		{name: "dhclient", cmds: []string{"dhclient"}, done: "bound to 10.30.0.50",
			argv: func(dir string) []string {
				return []string{"dhclient", "-4", "-1", "-v", "-d", "-lf", dir + "/leases", "-pf", dir + "/pid", "-sf", "/bin/true", "eth0"}
			}},
		// nmap only DISCOVERs, with the broadcast flag, and prints the OFFER's fields.
		{name: "nmap broadcast-dhcp-discover", cmds: []string{"nmap"}, broadcast: true, cidr: "10.30.0.99/24", replies: 1, chaddr: "de:ad:c0:de:ca:fe",
			done: "IP Offered: 10.30.0.50",
			argv: func(string) []string {
				return []string{"nmap", "-e", "eth0", "--script", "broadcast-dhcp-discover", "--script-args", "broadcast-dhcp-discover.timeout=5s"}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netlab.RequireCommands(t, tc.cmds...)
			l := netlab.New(t)
			srv, cli := l.Namespace("srv"), l.Namespace("cli")
			l.Veth(srv, "eth0", "10.30.0.1/24", cli, "eth0", tc.cidr)
			h := &testServer{}
			c := startConn(t, srv, "eth0", &Config{ServerAddr: netip.MustParseAddr("10.30.0.1")}, h)
			cliMAC := linkMAC(t, cli, "eth0")
			srvMAC := MAC(c.Interface().HardwareAddr)
			want := 2
			if tc.replies != 0 {
				want = tc.replies
			}
			wait := startCapture(t, cli, "eth0", 2*want, false)
			dir := t.TempDir()
			p := cli.Start(tc.argv(dir)...)
			if !p.WaitOutput(tc.done, 30*time.Second) {
				t.Fatalf("client got no lease:\n%s", p.Output())
			}
			if tc.name == "nmap broadcast-dhcp-discover" && !p.WaitOutput("Server Identifier: 10.30.0.1", 10*time.Second) {
				t.Errorf("nmap output lacks the server identifier:\n%s", p.Output())
			}
			p.Kill()
			replies := repliesFrom(t, wait(), true)
			if len(replies) < want {
				t.Fatalf("captured %d replies, want %d", len(replies), want)
			}
			for _, r := range replies[:want] {
				typ, _ := r.m.MessageType()
				if r.frame.src != srvMAC || r.h.Src != netip.MustParseAddrPort("10.30.0.1:67") {
					t.Errorf("%v from %v at %v", typ, r.h.Src, r.frame.src)
				}
				wantMAC, wantDst := cliMAC, netip.MustParseAddrPort("10.30.0.50:68")
				if tc.broadcast {
					wantMAC, wantDst = BroadcastMAC, netip.MustParseAddrPort("255.255.255.255:68")
				}
				if r.frame.dst != wantMAC || r.h.Dst != wantDst {
					t.Errorf("%v sent to %v at %v, want %v at %v", typ, r.h.Dst, r.frame.dst, wantDst, wantMAC)
				}
				wantCH := cliMAC.String()
				if tc.chaddr != "" {
					wantCH = tc.chaddr
				}
				if r.m.HardwareAddr().String() != wantCH || r.m.YIAddr != netip.MustParseAddr("10.30.0.50") {
					t.Errorf("%v chaddr %v yiaddr %v", typ, r.m.HardwareAddr(), r.m.YIAddr)
				}
			}
			st := c.Stats()
			if st.Replies < uint64(want) || st.Handled < uint64(want) || st.ReplyErrors != 0 || st.HandlerPanics != 0 || st.Malformed != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func linkMAC(t *testing.T, ns *netlab.NS, ifname string) MAC {
	t.Helper()
	var mac MAC
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			mac = MAC(ifi.HardwareAddr)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestConnRelay puts isc-dhcp-relay between a client and the Conn: our reply must go to the
// relay's giaddr port 67 over the UDP socket and the client must get its lease.
func TestConnRelay(t *testing.T) {
	netlab.RequireCommands(t, "dhcrelay", "busybox", "tshark")
	l := netlab.New(t)
	cli, rel, srv := l.Namespace("cli"), l.Namespace("rel"), l.Namespace("srv")
	l.Veth(cli, "eth0", "", rel, "eth0", "10.30.1.1/24")
	l.Veth(rel, "eth1", "10.30.2.1/24", srv, "eth0", "10.30.2.2/24")
	srv.MustRun("ip", "route", "add", "10.30.1.0/24", "via", "10.30.2.1")
	h := &testServer{}
	c := startConn(t, srv, "eth0", &Config{ServerAddr: netip.MustParseAddr("10.30.2.2")}, h)
	// dhcrelay's requests and our UDP replies are built by the kernel: partial checksums.
	wait := startCapture(t, srv, "eth0", 4, true)
	dir := t.TempDir()
	relay := rel.Start("dhcrelay", "-d", "-4", "-pf", dir+"/relay.pid", "-id", "eth0", "-iu", "eth1", "10.30.2.2")
	if !relay.WaitOutput("Sending on", 10*time.Second) {
		t.Fatalf("dhcrelay did not start:\n%s", relay.Output())
	}
	p := cli.Start("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", "/bin/true")
	if !p.WaitOutput("lease of 10.30.1.50 obtained", 30*time.Second) {
		t.Fatalf("client got no lease through the relay:\n%s\nrelay:\n%s", p.Output(), relay.Output())
	}
	replies := repliesFrom(t, wait(), false)
	if len(replies) < 2 {
		t.Fatalf("captured %d replies", len(replies))
	}
	for _, r := range replies[:2] {
		if r.h.Src != netip.MustParseAddrPort("10.30.2.2:67") || r.h.Dst != netip.MustParseAddrPort("10.30.1.1:67") || r.m.GIAddr != netip.MustParseAddr("10.30.1.1") {
			t.Errorf("relayed reply %v → %v giaddr %v", r.h.Src, r.h.Dst, r.m.GIAddr)
		}
	}
	// Our own relay replies to port 67 must not come back as foreign packets.
	if st := c.Stats(); st.Replies < 2 || st.ReplyErrors != 0 || st.Foreign != 0 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestConnPXEServiceAndDrops: a client with an address asks the port-4011 service and gets
// the answer from port 4011 at its own address and port; garbage and BOOTREPLYs sent to
// port 67 are counted and dropped while the Conn keeps serving.
func TestConnPXEServiceAndDrops(t *testing.T) {
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", "10.30.0.1/24", cli, "eth0", "10.30.0.77/24")
	panicky := HandlerFunc(func(w ResponseWriter, req *Message, info *PacketInfo) {
		if string(req.Hostname()) == "panic" {
			panic("test handler panic")
		}
		(&testServer{}).ServeDHCP(w, req, info)
	})
	c := startConn(t, srv, "eth0", &Config{Ports: []uint16{ServerPort, PXEServicePort}}, panicky)
	if c.ServerAddr() != netip.MustParseAddr("10.30.0.1") {
		t.Errorf("server address from the interface: %v", c.ServerAddr())
	}
	var u *net.UDPConn
	if err := cli.Do(func() (err error) {
		u, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.30.0.77:68")))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	request := func(typ MessageType, host string) []byte {
		var m Message
		m.Op, m.HType, m.HLen, m.XID = BootRequest, 1, 6, 0x4011
		m.CIAddr = netip.MustParseAddr("10.30.0.77")
		copy(m.CHAddr[:], []byte{2, 0, 0, 0, 0, 0x77})
		m.SetMessageType(typ)
		if host != "" {
			m.SetHostname(host)
		}
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send := func(b []byte, port uint16) {
		if _, err := u.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr("10.30.0.1"), port)); err != nil {
			t.Fatal(err)
		}
	}
	// Junk first: a short packet, a BOOTREPLY to the server port, a handler panic.
	send([]byte("not dhcp"), ServerPort)
	reply := request(Inform, "")
	reply[0] = byte(BootReply)
	send(reply, ServerPort)
	send(request(Inform, "panic"), ServerPort)

	send(request(Inform, ""), PXEServicePort)
	buf := make([]byte, 1500)
	_ = u.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := u.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer from the 4011 service: %v (stats %+v)", err, c.Stats())
	}
	if from != netip.MustParseAddrPort("10.30.0.1:4011") {
		t.Errorf("answer from %v, want 10.30.0.1:4011", from)
	}
	var m Message
	if err := m.Decode(buf[:n]); err != nil || m.XID != 0x4011 || string(m.BootFileName()) != "inform.txt" {
		t.Errorf("answer %v xid %#x file %q", err, m.XID, m.BootFileName())
	}
	if n < MinReplyLen {
		t.Errorf("answer of %d bytes not padded", n)
	}
	// Port 67 too: the INFORM ACK goes to ciaddr:68.
	send(request(Inform, ""), ServerPort)
	if _, from, err = u.ReadFromUDPAddrPort(buf); err != nil || from.Port() != ServerPort {
		t.Errorf("port 67 answer from %v: %v", from, err)
	}
	// The client can read the reply before the server goroutine counts it.
	st := c.Stats()
	for deadline := time.Now().Add(2 * time.Second); st.Replies < 2 && time.Now().Before(deadline); st = c.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if st.Malformed != 1 || st.Foreign < 1 || st.HandlerPanics != 1 || st.Replies != 2 {
		t.Errorf("stats %+v, want 1 malformed, ≥1 foreign, 1 panic, 2 replies", st)
	}
}

func TestListenErrors(t *testing.T) {
	_, err := Listen("no-such-if0", nil)
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "listen" {
		t.Errorf("Listen on a missing interface: %v", err)
	}
	l := netlab.New(t)
	ns := l.Namespace("noaddr")
	other := l.Namespace("peer")
	l.Veth(ns, "eth0", "", other, "eth0", "")
	err = ns.Do(func() error { _, err := Listen("eth0", nil); return err })
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "no IPv4 address") {
		t.Errorf("Listen without an address: %v", err)
	}
}

// TestConnFirmware serves real network-boot firmware under QEMU: the iPXE BIOS ROM and
// U-Boot both leave the broadcast flag clear, so the OFFER and ACK must arrive as link-layer
// unicast frames to chaddr/yiaddr. iPXE proves it took the OFFER by sending a REQUEST for
// the offered address; U-Boot prints that it bound.
func TestConnFirmware(t *testing.T) {
	for _, name := range []string{"qemu-bios-ipxe", "qemu-uboot"} {
		t.Run(name, func(t *testing.T) {
			var gc goldenClient
			for _, g := range goldenClients {
				if g.name == name {
					gc = g
				}
			}
			netlab.RequireCommands(t, append([]string{"tshark"}, gc.cmds...)...)
			netlab.RequireFiles(t, gc.files...)
			l := netlab.New(t)
			srv := l.Namespace("srv")
			srv.MustRun("ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
			srv.MustRun("ip", "addr", "add", "10.30.0.1/24", "dev", "tap0")
			srv.MustRun("ip", "link", "set", "tap0", "up")
			h := &testServer{}
			c := startConn(t, srv, "tap0", nil, h)
			wait := startCapture(t, srv, "tap0", 0, false)
			stop, out := startClientOut(t, srv, gc, t.TempDir(), "tap0")
			// Done when the firmware asked for the offered address (and our ACK is out).
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && !h.saw(Request) {
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(time.Second)
			frames := wait()
			if name == "qemu-uboot" && !strings.Contains(out.String(), "DHCP client bound to address 10.30.0.50") {
				t.Errorf("U-Boot did not bind:\n%s", out.String())
			}
			stop()
			var discover, request *Message
			for _, f := range frames {
				if hh, p, err := ParseIPv4UDP(f.ip); err == nil && hh.Dst.Port() == ServerPort {
					var m Message
					if m.Decode(p) != nil {
						continue
					}
					switch typ, _ := m.MessageType(); {
					case typ == Discover && discover == nil:
						discover = &m
					case typ == Request && request == nil:
						request = &m
					}
				}
			}
			if discover == nil || request == nil {
				t.Fatalf("captured no DISCOVER and REQUEST from the firmware (%d frames)", len(frames))
			}
			if discover.Broadcast() || request.Broadcast() {
				t.Errorf("firmware set the broadcast flag; this test needs it clear")
			}
			if ip, _ := request.RequestedIP(); ip != netip.MustParseAddr("10.30.0.50") {
				t.Errorf("REQUEST asks for %v", ip)
			}
			chaddr := MAC(discover.CHAddr[:6])
			var offers, acks int
			for _, r := range repliesFrom(t, frames, true) {
				typ, _ := r.m.MessageType()
				if r.frame.dst != chaddr || r.h.Dst != netip.MustParseAddrPort("10.30.0.50:68") {
					t.Errorf("%v sent to %v at %v, want 10.30.0.50:68 at %v", typ, r.h.Dst, r.frame.dst, chaddr)
				}
				switch typ {
				case Offer:
					offers++
				case Ack:
					acks++
				}
			}
			if offers == 0 || acks == 0 {
				t.Errorf("captured %d OFFERs and %d ACKs", offers, acks)
			}
			if st := c.Stats(); st.Malformed != 0 || st.ReplyErrors != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

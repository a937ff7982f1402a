//go:build linux

package dhcpd

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// udhcpcOnce runs one bounded busybox udhcpc and returns the address it obtained ("" if
// none) and its output.
func udhcpcOnce(t *testing.T, ns *netlab.NS, extra ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"busybox", "udhcpc", "-f", "-q", "-n", "-i", "eth0", "-t", "3", "-T", "1", "-s", "/bin/true"}, extra...)
	out, _ := ns.Run(ctx, argv...)
	// The last lease counts: a client that declined one goes on to another.
	all := regexp.MustCompile(`lease of (\S+) obtained`).FindAllStringSubmatch(string(out), -1)
	if all == nil {
		return "", string(out)
	}
	return all[len(all)-1][1], string(out)
}

// TestRelay: dhcrelay in a middle namespace with two veths; the reply goes back to the relay
// (giaddr, UDP port 67) and the client behind it gets a lease.
func TestRelay(t *testing.T) {
	netlab.RequireCommands(t, "dhcrelay", "busybox", "tshark")
	l := netlab.New(t)
	srv, rel, cli := l.Namespace("srv"), l.Namespace("rel"), l.Namespace("cli")
	l.Veth(srv, "eth0", "10.40.0.1/16", rel, "eth0", "10.40.0.2/16")
	l.Veth(rel, "eth1", "10.40.1.1/24", cli, "eth0", "")
	cli.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:01:01")
	cfg := labConfig()
	cfg.Subnet = netip.MustParsePrefix("10.40.0.0/16")
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.1.100"), netip.MustParseAddr("10.40.1.150")
	cfg.Router = netip.MustParseAddr("10.40.1.1")
	s, _ := labServer(t, srv, "eth0", cfg)
	// Capture between relay and server to see option 82 come back unchanged.
	dir := t.TempDir()
	cap := rel.Start("tshark", "-l", "-n", "-i", "eth0", "-f", "udp port 67", "-w", dir+"/relay.pcap")
	if !cap.WaitOutput("Capture started", 15*time.Second) {
		t.Fatalf("tshark did not start:\n%s", cap.Output())
	}
	// -a: the relay adds option 82 (circuit id = its client-side interface).
	relay := rel.Start("dhcrelay", "-d", "-4", "-a", "-id", "eth1", "-iu", "eth0", "10.40.0.1")
	time.Sleep(500 * time.Millisecond) // let dhcrelay open its sockets
	ip, out := udhcpcOnce(t, cli)
	if ip == "" {
		t.Fatalf("no lease through the relay:\n%s\nrelay:\n%s", out, relay.Output())
	}
	if !strings.HasPrefix(ip, "10.40.1.") {
		t.Fatalf("lease %s not from the relayed pool", ip)
	}
	if l, ok := leaseOf(s, "02:40:00:00:01:01"); !ok || l.IP.String() != ip || l.State != "bound" {
		t.Fatalf("server table %+v", l)
	}
	if !strings.Contains(relay.Output(), "Forwarded BOOTREPLY") {
		t.Fatalf("the reply did not pass through the relay:\n%s", relay.Output())
	}
	time.Sleep(500 * time.Millisecond)
	cap.Signal(2)
	<-cap.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := rel.Run(ctx, "tshark", "-n", "-r", dir+"/relay.pcap", "-T", "fields", "-E", "separator=|",
		"-e", "dhcp.type", "-e", "dhcp.option.dhcp", "-e", "dhcp.option.agent_information_option.agent_circuit_id")
	if err != nil {
		t.Fatalf("tshark read: %v\n%s", err, f)
	}
	var reqCircuit, replies, echoed int
	circuit := ""
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		p := strings.Split(line, "|")
		if len(p) < 3 {
			continue
		}
		switch p[0] {
		case "1": // BOOTREQUEST from the relay
			if p[2] != "" {
				reqCircuit++
				circuit = p[2]
			}
		case "2":
			replies++
			if p[2] != "" && p[2] == circuit {
				echoed++
			}
		}
	}
	if reqCircuit == 0 || replies == 0 || echoed != replies {
		t.Fatalf("option 82: %d relayed requests carried it, %d of %d replies echoed it:\n%s", reqCircuit, echoed, replies, f)
	}
}

// TestARPProbeSkipsAddressInUse: a host already using a pool address (without a lease) is
// never offered it.
func TestARPProbeSkipsAddressInUse(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "sq", "c1", "c2"}, []string{"10.40.0.1/24", "10.40.0.100/24", "", ""})
	srv, c1, c2 := ns[0], ns[2], ns[3]
	c1.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:02:01")
	c2.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:02:02")
	cfg := labConfig()
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.101")
	s, logs := labServer(t, srv, "eth0", cfg)
	ip1, out := udhcpcOnce(t, c1)
	if ip1 != "10.40.0.101" {
		t.Fatalf("first client got %q, want the free 10.40.0.101:\n%s", ip1, out)
	}
	// The only other address is in use: the second client gets nothing rather than it.
	if ip2, out := udhcpcOnce(t, c2); ip2 != "" {
		t.Fatalf("second client got %s although 10.40.0.100 is in use:\n%s", ip2, out)
	}
	st := s.Stats()
	if st.Conflicts == 0 || st.Exhausted == 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "answered the ARP probe") {
		t.Fatal("no conflict warning logged")
	}
	for _, l := range s.Leases() {
		if l.IP.String() == "10.40.0.100" && l.State != "conflict" {
			t.Fatalf("10.40.0.100 is %q, want conflict", l.State)
		}
	}
}

// TestUnicastOffer: a client with the broadcast flag clear and no address gets the OFFER as
// a unicast frame to chaddr and IP yiaddr (tshark in the client namespace).
func TestUnicastOffer(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "tshark")
	const cmac = "02:40:00:00:03:01"
	_, srv, cli := pair(t, cmac)
	labServer(t, srv, "eth0", labConfig())
	dir := t.TempDir()
	cap := cli.Start("tshark", "-l", "-n", "-i", "eth0", "-f", "udp port 67 or udp port 68", "-a", "duration:25",
		"-w", dir+"/dora.pcap")
	// "Capture started" comes once the ring is live; "Capturing on" is printed earlier.
	if !cap.WaitOutput("Capture started", 15*time.Second) {
		t.Fatalf("tshark did not start:\n%s", cap.Output())
	}
	ip, out := udhcpcOnce(t, cli)
	if ip == "" {
		t.Fatalf("no lease:\n%s", out)
	}
	time.Sleep(time.Second)
	cap.Signal(2) // SIGINT: tshark finishes the file
	select {
	case <-cap.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("tshark did not stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fields, err := cli.Run(ctx, "tshark", "-n", "-r", dir+"/dora.pcap", "-T", "fields", "-E", "separator=|",
		"-e", "dhcp.option.dhcp", "-e", "dhcp.flags.bc", "-e", "eth.dst", "-e", "ip.dst", "-e", "dhcp.ip.your", "-e", "udp.srcport")
	if err != nil {
		t.Fatalf("tshark read: %v\n%s", err, fields)
	}
	var sawDiscover, sawOffer bool
	for _, line := range strings.Split(strings.TrimSpace(string(fields)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 6 {
			continue
		}
		switch f[0] {
		case "1":
			sawDiscover = true
			if f[1] != "0" && f[1] != "False" {
				t.Fatalf("DISCOVER had the broadcast flag set: %q", line)
			}
		case "2":
			sawOffer = true
			if f[2] != cmac || f[3] != ip || f[4] != ip || f[5] != "67" {
				t.Fatalf("OFFER frame %q: want eth.dst %s, ip.dst %s = yiaddr", line, cmac, ip)
			}
		}
	}
	if !sawDiscover || !sawOffer {
		t.Fatalf("capture lacks DISCOVER/OFFER:\n%s", fields)
	}
}

// TestDeclineFromUdhcpc: with our probe off, udhcpc's own ARP check (-a) finds the offered
// address in use and DECLINEs it; the server quarantines it.
func TestDeclineFromUdhcpc(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "sq", "cli"}, []string{"10.40.0.1/24", "10.40.0.100/24", ""})
	srv, cli := ns[0], ns[2]
	cli.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:04:01")
	cfg := labConfig()
	cfg.ProbeWait = -1
	cfg.Begin, cfg.End = netip.MustParseAddr("10.40.0.100"), netip.MustParseAddr("10.40.0.101")
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:40:00:00:04:01":{"ipaddr":"10.40.0.100"}}}}`))
	// A reservation is not probed: the client's own check must catch the squatter.
	s, _ := labServer(t, srv, "eth0", cfg)
	ip, out := udhcpcOnce(t, cli, "-a500")
	if !strings.Contains(out, "declining") || ip != "10.40.0.101" {
		t.Fatalf("want a DECLINE of 10.40.0.100 and then a lease of 10.40.0.101, got %q:\n%s", ip, out)
	}
	if !waitFor(3*time.Second, func() bool { return s.Stats().Declines >= 1 }) {
		t.Fatalf("no DECLINE handled; stats %+v\n%s", s.Stats(), out)
	}
	found := false
	for _, l := range s.Leases() {
		if l.IP.String() == "10.40.0.100" && l.State == "declined" {
			found = true
		}
	}
	if !found {
		t.Fatalf("10.40.0.100 not quarantined: %+v", s.Leases())
	}
}

// TestWhitelistOnWire: only reserved MACs get an answer.
func TestWhitelistOnWire(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	l := netlab.New(t)
	ns := switched(t, l, []string{"srv", "c1", "c2"}, []string{"10.40.0.1/24", "", ""})
	srv, c1, c2 := ns[0], ns[1], ns[2]
	c1.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:05:01")
	c2.MustRun("ip", "link", "set", "eth0", "address", "02:40:00:00:05:02")
	cfg := labConfig()
	cfg.Whitelist = true
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:40:00:00:05:01":{"ipaddr":"10.40.0.77"}}}}`))
	labServer(t, srv, "eth0", cfg)
	if ip, out := udhcpcOnce(t, c1); ip != "10.40.0.77" {
		t.Fatalf("reserved client got %q:\n%s", ip, out)
	}
	if ip, _ := udhcpcOnce(t, c2); ip != "" {
		t.Fatalf("client outside the whitelist got %s", ip)
	}
}

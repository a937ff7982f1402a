//go:build linux

package dhcpd

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// dhclient hook: configure the address so that unicast renewals work, flush on release.
const dhclientScript = `case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
  ip addr flush dev "$interface"
  ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
RELEASE|EXPIRE|STOP)
  ip addr flush dev "$interface" ;;
esac
exit 0
`

func TestDhclientLeaseRenewRelease(t *testing.T) {
	netlab.RequireCommands(t, "dhclient")
	const cmac = "02:40:00:00:00:01"
	_, srv, cli := pair(t, cmac)
	cfg := labConfig()
	cfg.LeaseTime = 6 * time.Second // T1 = 3 s: dhclient renews within the test
	s, _ := labServer(t, srv, "eth0", cfg)
	dir := t.TempDir()
	script := writeScript(t, dir, "hook.sh", dhclientScript)
	lf, pf := dir+"/dhclient.leases", dir+"/dhclient.pid"
	p := cli.Start("dhclient", "-4", "-d", "-v", "-sf", script, "-lf", lf, "-pf", pf, "eth0")
	if !p.WaitOutput("bound to", 20*time.Second) {
		t.Fatalf("dhclient got no lease:\n%s", p.Output())
	}
	m := regexp.MustCompile(`bound to (\S+)`).FindStringSubmatch(p.Output())
	l, ok := leaseOf(s, cmac)
	if !ok || l.State != "bound" || l.IP.String() != m[1] {
		t.Fatalf("server table %+v, dhclient says %s", l, m[1])
	}
	if !strings.Contains(cli.MustRun("ip", "-4", "addr", "show", "eth0"), m[1]+"/24") {
		t.Fatal("address not configured with the /24 mask from option 1")
	}
	// Renewal: a unicast REQUEST at T1, answered with an ACK.
	acks := s.Stats().Acks
	if !waitFor(12*time.Second, func() bool { return s.Stats().Acks > acks }) {
		t.Fatalf("no renewal ACK:\n%s", p.Output())
	}
	if !p.WaitOutput("DHCPREQUEST for "+m[1]+" on eth0 to 10.40.0.1", 5*time.Second) {
		t.Fatalf("renewal was not unicast to the server:\n%s", p.Output())
	}
	// Release: dhclient -r signals the running client, which sends RELEASE.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := cli.Run(ctx, "dhclient", "-4", "-r", "-v", "-sf", script, "-lf", lf, "-pf", pf, "eth0"); err != nil {
		t.Fatalf("dhclient -r: %v\n%s", err, out)
	}
	if !waitFor(5*time.Second, func() bool { return s.Stats().Releases == 1 }) {
		t.Fatalf("no RELEASE handled; stats %+v", s.Stats())
	}
	if l, _ := leaseOf(s, cmac); l.State != "expired" {
		t.Fatalf("after release the lease is %q", l.State)
	}
}

func TestUdhcpc(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	const cmac = "02:40:00:00:00:02"
	_, srv, cli := pair(t, cmac)
	s, _ := labServer(t, srv, "eth0", labConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := cli.Run(ctx, "busybox", "udhcpc", "-f", "-q", "-n", "-i", "eth0", "-t", "4", "-T", "2", "-s", "/bin/true")
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`lease of (\S+) obtained from (\S+), lease time (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("udhcpc output:\n%s", out)
	}
	if m[2] != "10.40.0.1" || m[3] != "3600" {
		t.Fatalf("server %s lease time %s", m[2], m[3])
	}
	if l, ok := leaseOf(s, cmac); !ok || l.IP.String() != m[1] || l.State != "bound" {
		t.Fatalf("server table %+v", l)
	}
}

func TestDhcpcd(t *testing.T) {
	netlab.RequireCommands(t, "dhcpcd")
	const cmac = "02:40:00:00:00:03"
	_, srv, cli := pair(t, cmac)
	s, _ := labServer(t, srv, "eth0", labConfig())
	dir := t.TempDir()
	// Test mode: dhcpcd runs DISCOVER/OFFER and hands the offer's variables to its hook,
	// touching nothing; -f /dev/null keeps the host's configuration out, -B keeps it in the
	// foreground (Start's process group is killed at cleanup).
	hook := writeScript(t, dir, "hook.sh", "set | grep '^new_' ; exit 0\n")
	// Without a configuration file dhcpcd's option 55 lacks DNS and domain: ask for them
	// (-o), which also shows the server honouring option 55.
	p := cli.Start("dhcpcd", "-f", "/dev/null", "-B", "-4", "-T", "-t", "15", "-o", "domain_name_servers", "-o", "domain_name", "-c", hook, "eth0")
	if !p.WaitOutput("new_tftp_server_name", 20*time.Second) {
		t.Fatalf("dhcpcd printed no offer:\n%s", p.Output())
	}
	p.Kill()
	out := p.Output()
	o := string(out)
	ip := regexp.MustCompile(`new_ip_address='?([0-9.]+)`).FindStringSubmatch(o)
	if ip == nil {
		t.Fatalf("dhcpcd printed no address:\n%s", o)
	}
	for _, want := range []string{"new_domain_name='?lab.test", "new_subnet_mask='?255.255.255.0", "new_routers='?10.40.0.254", "new_dhcp_server_identifier='?10.40.0.1", "new_domain_name_servers='?10.40.0.53 10.40.0.54", "new_dhcp_lease_time='?3600"} {
		if !regexp.MustCompile(want).MatchString(o) {
			t.Errorf("dhcpcd output lacks %s:\n%s", want, o)
		}
	}
	if s.Stats().Offers == 0 {
		t.Fatal("no OFFER counted")
	}
}

func TestNmapBroadcastDHCPDiscover(t *testing.T) {
	netlab.RequireCommands(t, "nmap")
	_, srv, cli := pair(t, "02:40:00:00:00:04")
	// nmap's broadcast scripts only run on an interface that has an IPv4 address; any
	// address outside the pool will do (the DISCOVER still goes out from 0.0.0.0).
	cli.MustRun("ip", "addr", "add", "192.168.77.2/24", "dev", "eth0")
	labServer(t, srv, "eth0", labConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := cli.Run(ctx, "nmap", "--script", "broadcast-dhcp-discover", "--script-args", "broadcast-dhcp-discover.timeout=5s", "-e", "eth0")
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	o := string(out)
	for _, want := range []string{
		`IP Offered: 10\.40\.0\.1[0-9][0-9]`,
		`Server Identifier: 10\.40\.0\.1\b`,
		`Subnet Mask: 255\.255\.255\.0`,
		`Router: 10\.40\.0\.254`,
		`Domain Name Server: 10\.40\.0\.53, 10\.40\.0\.54`,
		`IP Address Lease Time: 1h00m00s`,
		`DHCP Message Type: DHCPOFFER`,
	} {
		if !regexp.MustCompile(want).MatchString(o) {
			t.Errorf("nmap output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("nmap output:\n%s", o)
	}
}

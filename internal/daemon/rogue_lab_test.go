package daemon_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// The rogue watch after the served interface was deleted and created again: the reopened
// watch (not just the reopen log line) hears another DHCP server that starts answering on
// the link afterwards, and pxe-edge warns about it. pxe-edge, a client and dnsmasq (the
// rogue) share one bridge. Subnet 10.60.66.0/24.
func TestRogueWatchAfterInterfaceRecreated(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "dnsmasq")
	x := newSwitchLab(t, "10.60.66.3/24")
	l, sw, srv, cli, oth := x.l, x.sw, x.srv, x.cli, x.oth
	tmp := t.TempDir()
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	p := srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.66.2",
		"-b", "10.60.66.100", "-e", "10.60.66.150", "--state-dir", filepath.Join(tmp, "state"))
	waitFor(t, p, `msg="DHCP answering"`)
	if ip, err := udhcpc(t, cli); err != nil || !strings.HasPrefix(ip, "10.60.66.1") {
		t.Fatalf("lease before the re-creation: %q %v\n%s", ip, err, p.Output())
	}

	// Deleting srv's eth0 deletes its peer (the bridge port) too; both come back new.
	srv.MustRun("ip", "link", "del", "eth0")
	waitFor(t, p, "carrier lost: DHCP paused")
	l.Veth(sw, "psrv", "", srv, "eth0", "")
	sw.AttachToBridge("psrv", "br0")
	waitFor(t, p, "ARP probe and rogue watch reopened")
	waitCount(t, p, `msg="DHCP answering"`, 2)

	const warning = `msg="dhcp: another DHCP server is answering on this link"`
	if strings.Contains(p.Output(), warning) {
		t.Fatalf("rogue warning before any other server ran:\n%s", p.Output())
	}
	startDnsmasq(t, oth, tmp, "dnsmasq", "10.60.66.200", "10.60.66.250")
	// A new client asking for broadcast replies (-B), so that the bridge floods dnsmasq's
	// OFFER to pxe-edge's port too, as a hub or a client without unicast support would.
	cli.MustRun("ip", "addr", "flush", "dev", "eth0")
	cli.MustRun("ip", "link", "set", "eth0", "address", "52:54:00:60:66:02")
	for i := 0; i < 3 && !strings.Contains(p.Output(), warning); i++ {
		_, _ = udhcpc(t, cli, "-B")
	}
	waitFor(t, p, warning+` svc=dhcp server=10.60.66.3 `)
	stopOK(t, p)
}

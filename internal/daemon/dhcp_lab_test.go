package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// A DISCOVER for an address nobody holds needs an ARP probe (ProbeWait); the daemon hands
// dhcpd its socket (SetReplier) so that the probe runs on its own goroutine instead of
// holding one of the serve loop's workers, and the client still gets its lease.
func TestProbeOffServeLoop(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.15.2",
		"-b", "10.60.15.100", "-e", "10.60.15.150", "--state-dir", t.TempDir(), "--debug", "dhcp")
	waitFor(t, p, "DHCP answering")
	ip, err := udhcpc(t, lb.cli)
	if err != nil || !strings.HasPrefix(ip, "10.60.15.1") {
		t.Fatalf("lease %q %v\n%s", ip, err, p.Output())
	}
	if !strings.Contains(p.Output(), "ARP probe on its own goroutine") {
		t.Errorf("the probe ran on a serve loop worker (no SetReplier):\n%s", p.Output())
	}
	// Who booted what, at info: one line per OFFER and ACK; the request detail too, since
	// --debug dhcp includes --verbose's level.
	for _, want := range []string{`msg="dhcp: OFFER" svc=dhcp mac=`, `msg="dhcp: ACK" svc=dhcp mac=`, " ip=" + ip + " ", `msg="dhcp: request" svc=dhcp type=DISCOVER`} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.Output())
		}
	}
	stopOK(t, p)
}

// The server address removed while the cable stays in is put back at once (netlink address
// events, not only carrier changes), and clients keep getting leases.
func TestAddressRestoredWithCableIn(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.18.2",
		"-b", "10.60.18.100", "-e", "10.60.18.150", "--state-dir", t.TempDir())
	waitFor(t, p, "DHCP answering")
	for i := 1; i <= 3; i++ {
		lb.srv.MustRun("ip", "addr", "flush", "dev", "eth0")
		waitCount(t, p, "server address removed from the interface; restoring it", i)
		deadline := time.Now().Add(5 * time.Second)
		for !hasAddr(t, lb.srv, "10.60.18.2/24") {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: address not restored:\n%s", i, p.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		lb.cli.MustRun("ip", "addr", "flush", "dev", "eth0")
		if ip, err := udhcpc(t, lb.cli); err != nil || !strings.HasPrefix(ip, "10.60.18.1") {
			t.Fatalf("round %d: lease %q %v\n%s", i, ip, err, p.Output())
		}
	}
	if strings.Contains(p.Output(), "carrier lost") {
		t.Errorf("an address change is no carrier loss:\n%s", p.Output())
	}
	stopOK(t, p)
	if hasAddr(t, lb.srv, "10.60.18.2/24") {
		t.Error("the restored address (ours) must go at exit")
	}
}

// The interface deleted and created again (same name, new index): DHCP resumes on it, and
// so do dhcpd's ARP probe and rogue watch — the probe on the new interface finds a host
// holding the requested pool address, so that address is not offered. Descriptors of the
// old sockets do not pile up.
func TestInterfaceRecreatedReopensProbe(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.17.2",
		"-b", "10.60.17.100", "-e", "10.60.17.150", "--state-dir", t.TempDir())
	waitFor(t, p, "DHCP answering")
	first, err := udhcpc(t, lb.cli)
	if err != nil {
		t.Fatalf("first lease: %v\n%s", err, p.Output())
	}
	fds := fdCount(t, pid(t, p))
	for i := 1; i <= 2; i++ {
		lb.srv.MustRun("ip", "link", "del", "eth0")
		waitCount(t, p, "carrier lost: DHCP paused", i)
		lb.l.Veth(lb.srv, "eth0", "", lb.cli, "eth0", "")
		waitCount(t, p, "ARP probe and rogue watch reopened", i)
		waitCount(t, p, `msg="DHCP answering"`, i+1)
	}
	// A host on the link already uses a free pool address; a client asking for it must get
	// another one, found by the ARP probe. (Not the first lease's address: that one is
	// still leased to the old MAC and would be refused without a probe.)
	taken := "10.60.17.120"
	if first == taken {
		taken = "10.60.17.121"
	}
	lb.cli.MustRun("ip", "addr", "add", taken+"/24", "dev", "eth0")
	ip, err := udhcpc(t, lb.cli, "-r", taken)
	if err != nil || ip == taken || !strings.HasPrefix(ip, "10.60.17.1") {
		t.Fatalf("lease %q %v: the ARP probe on the re-created interface must see %s in use\n%s", ip, err, taken, p.Output())
	}
	if !strings.Contains(p.Output(), "address answered the ARP probe") {
		t.Errorf("no probe conflict logged:\n%s", p.Output())
	}
	if n := fdCount(t, pid(t, p)); n > fds {
		t.Errorf("descriptors %d after re-creating the interface twice, %d before: leak", n, fds)
	}
	stopOK(t, p)
}

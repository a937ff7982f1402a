package daemon_test

import (
	"strings"
	"testing"

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

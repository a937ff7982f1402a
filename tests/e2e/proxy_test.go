package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// startUDHCPD runs busybox udhcpd in its own namespace on br0 at <net>.2, handing out
// <net>.200–.250 without any boot information: the "other DHCP server" of a lab network.
func (e *env) startUDHCPD() *netlab.Proc {
	e.t.Helper()
	netlab.RequireCommands(e.t, "busybox")
	oth := e.lab.Namespace("oth")
	e.lab.Veth(e.srv, "poth", "", oth, "eth0", e.net+".2/24")
	e.srv.AttachToBridge("poth", "br0")
	dir := e.t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	writeFile(e.t, conf, []byte(fmt.Sprintf("start %s.200\nend %s.250\ninterface eth0\nlease_file %s\npidfile %s\noption subnet 255.255.255.0\noption lease 3600\n",
		e.net, e.net, filepath.Join(dir, "leases"), filepath.Join(dir, "pid"))))
	writeFile(e.t, filepath.Join(dir, "leases"), nil)
	p := oth.Start("busybox", "udhcpd", "-f", conf)
	time.Sleep(300 * time.Millisecond)
	select {
	case <-p.Done():
		e.t.Fatalf("udhcpd exited: %v\n%s", p.Err(), p.Output())
	default:
	}
	return p
}

// otherLease matches a guest console line showing an address from udhcpd's range.
func otherLease(net string) *regexp.Regexp {
	return regexp.MustCompile(`(?:net0: |Station IP address is )` + regexp.QuoteMeta(net) + `\.2[0-5][0-9]\b`)
}

// Scenario 5: ProxyDHCP beside busybox udhcpd. The BIOS iPXE ROM and OVMF's own PXE
// (arch 7: no option 43, boot file from the port-4011 service) take their address from
// udhcpd and their boot information from pxe-edge --dhcp-proxy, and reach the script.
func TestProxyBesideUDHCPD(t *testing.T) {
	e := newEnv(t, 8)
	e.startUDHCPD()
	e.startServer("--dhcp-proxy", "--ipxe", "--http", "--http-port", "80")

	bios := e.startGuest("bios", biosGuest(t, e.tap(), "52:54:00:70:08:10")...)
	took := bios.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	bios.waitRE(otherLease(e.net), time.Second)
	t.Logf("proxy: BIOS iPXE ROM reached boot.ipxe in %v", took.Round(100e6))
	bios.kill()

	c := e.capture(spec("proxy-ovmf"))
	uefi := e.startGuest("ovmf", ovmfGuest(t, e.tap(), "52:54:00:70:08:11")...)
	took = uefi.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	uefi.waitRE(otherLease(e.net), time.Second)
	cons := uefi.Console()
	if !strings.Contains(cons, "Start PXE over IPv4") || !strings.Contains(cons, "NBP filename is ipxe.efi") {
		t.Errorf("OVMF did not PXE-boot ipxe.efi")
	}
	t.Logf("proxy: OVMF PXE → ipxe.efi → boot.ipxe in %v", took.Round(100e6))
}

// Scenario 6: auto mode picks ProxyDHCP when udhcpd answers (and says so in its log); a
// guest boots with udhcpd's address.
func TestAutoModeProxy(t *testing.T) {
	e := newEnv(t, 9)
	e.startUDHCPD()
	p := e.startServer("--dhcp-auto", "--ipxe", "--http", "--http-port", "80")
	if !strings.Contains(p.Output(), "auto mode: another DHCP server answers; serving ProxyDHCP") || !strings.Contains(p.Output(), "mode=auto→proxy") {
		t.Fatalf("auto mode did not choose ProxyDHCP beside udhcpd:\n%s", p.Output())
	}
	g := e.startGuest("bios", biosGuest(t, e.tap(), "52:54:00:70:09:10")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	g.waitRE(otherLease(e.net), time.Second)
	t.Logf("auto→proxy: BIOS reached boot.ipxe in %v", took.Round(100e6))
}

// Scenario 6: alone on the link, auto mode serves full DHCP; a guest boots with an address
// from pxe-edge's own pool.
func TestAutoModeFull(t *testing.T) {
	e := newEnv(t, 10)
	p := e.startServer("--dhcp-auto", "--ipxe", "--http", "--http-port", "80")
	if !strings.Contains(p.Output(), "auto mode: no other DHCP server answered; serving full DHCP") || !strings.Contains(p.Output(), "mode=auto→full") {
		t.Fatalf("auto mode did not choose full DHCP alone on the link:\n%s", p.Output())
	}
	g := e.startGuest("bios", biosGuest(t, e.tap(), "52:54:00:70:10:10")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	g.waitRE(regexp.MustCompile(`net0: `+regexp.QuoteMeta(e.net)+`\.1[0-5][0-9]/`), time.Second)
	t.Logf("auto→full: BIOS reached boot.ipxe in %v", took.Round(100e6))
}

package e2e

import (
	"strings"
	"testing"
)

// Scenario 1: x86 legacy BIOS (SeaBIOS + QEMU's iPXE ROM) in full mode with --ipxe --http.
// The ROM already is iPXE (user class "iPXE" and option 175 in its first DISCOVER), so it
// gets the script's http:// URL at once and never downloads undionly.kpxe.
func TestBIOSIPXEHTTP(t *testing.T) {
	e := newEnv(t, 1)
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	c := e.capture(spec("bios-ipxe-http"))
	g := e.startGuest("bios", biosGuest(t, e.tap(), "52:54:00:70:01:10")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	g.wait("pxe-edge: mac=52:54:00:70:01:10 ip="+e.net+".", 10e9)
	g.wait("platform=pcbios", 10e9)
	t.Logf("BIOS iPXE ROM reached boot.ipxe over HTTP in %v", took.Round(100e6))
	if strings.Contains(p.Output(), "undionly.kpxe") {
		t.Errorf("the iPXE ROM was given or fetched undionly.kpxe (a chainloading loop):\n%s", p.Output())
	}
}

// Scenario 1, non-iPXE path: without --ipxe the BIOS client gets pxelinux.0 over TFTP, and
// PXELINUX prints the marker SAY line of pxelinux.cfg/default.
func TestBIOSPXELinux(t *testing.T) {
	e := newEnv(t, 2)
	e.startServer("--dhcp")
	c := e.capture(spec("bios-pxelinux"))
	g := e.startGuest("bios", biosGuest(t, e.tap(), "52:54:00:70:02:10")...)
	took := g.wait("pxe-edge: pxelinux.cfg/default reached", guestTimeout)
	c.finish()
	t.Logf("BIOS reached pxelinux.cfg/default through pxelinux.0 in %v", took.Round(100e6))
}

package e2e

import (
	"strings"
	"testing"
	"time"
)

// Scenario 2: x86-64 UEFI (OVMF) with EDK2's own PXE (arch 7, no iPXE ROM on the NIC) in
// full mode with --ipxe --http: the firmware gets ipxe.efi over TFTP, and iPXE gets the
// script's http:// URL.
func TestUEFIx64PXE(t *testing.T) {
	e := newEnv(t, 3)
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	c := e.capture(spec("ovmf-pxe"))
	g := e.startGuest("ovmf", ovmfGuest(t, e.tap(), "52:54:00:70:03:10")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	g.wait("platform=efi", 10e9)
	t.Logf("OVMF PXE → ipxe.efi → boot.ipxe in %v", took.Round(100e6))
	if !strings.Contains(g.Console(), "Start PXE over IPv4") {
		t.Errorf("the boot did not go through EDK2's PXE")
	}
	_ = p
}

// Scenario 2: UEFI HTTP boot (arch 16, vendor class HTTPClient). OVMF's boot manager tries
// PXEv4, PXEv6, HTTPv4, HTTPv6 in that order; the fw_cfg knobs opt/org.tianocore/IPv4PXESupport
// and IPv6PXESupport (OvmfPkg's NetworkPkg PCDs, what a firmware setup screen's "PXE off"
// does on a real machine) leave only the HTTP boot options, so the server is not bent to make
// the test pass. The firmware gets http://<server>/ipxe.efi and option 60 HTTPClient; the
// iPXE it boots gets the script.
func TestUEFIx64HTTPBoot(t *testing.T) {
	e := newEnv(t, 4)
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	c := e.capture(spec("ovmf-http"))
	g := e.startGuest("ovmf-http", ovmfGuest(t, e.tap(), "52:54:00:70:04:10",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	t.Logf("OVMF HTTP boot → ipxe.efi → boot.ipxe in %v", took.Round(100e6))
	if c := g.Console(); !strings.Contains(c, `starting Boot0002 "UEFI HTTPv4`) || strings.Contains(c, "Start PXE over IPv4") {
		t.Errorf("the firmware did not boot through its HTTPv4 boot option alone")
	}
	_ = p
}

// The no-loop rule holds across a restart because it is decided from the packet, not from
// stored state: pxe-edge is restarted while OVMF runs the ipxe.efi it just downloaded, and
// the new instance, which never saw this client's firmware, still gives iPXE the script.
func TestUEFIx64PXERestart(t *testing.T) {
	e := newEnv(t, 14)
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	g := e.startGuest("ovmf", ovmfGuest(t, e.tap(), "52:54:00:70:14:10")...)
	g.wait("NBP file downloaded successfully", guestTimeout)
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Output())
	}
	p2 := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	t.Logf("OVMF → ipxe.efi, server restarted, → boot.ipxe in %v", took.Round(100e6))
	if strings.Count(g.Console(), "NBP file downloaded successfully") != 1 || strings.Contains(p2.Output(), "file=ipxe.efi") {
		t.Errorf("after the restart the client was given ipxe.efi again")
	}
	if !strings.Contains(p2.Output(), "path=/boot.ipxe status=200") {
		t.Errorf("the restarted server did not serve boot.ipxe:\n%s", p2.Output())
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// requireIPXEARM64 skips (fails in CI) unless $IPXE_ARM64_EFI names an arm64 iPXE EFI binary
// and scripts/netboot.sh copied it into the netboot directory as ipxe-arm64.efi, the file
// pkg/boot's default policy gives arm64 UEFI clients.
func requireIPXEARM64(t *testing.T, dir string) {
	t.Helper()
	p := os.Getenv("IPXE_ARM64_EFI")
	if p == "" {
		netlab.Missing(t, "IPXE_ARM64_EFI is not set: Debian bookworm has no arm64 iPXE; "+
			"IPXE_ARM64_EFI=$(board/ipxe-arm64/fetch.sh) takes ipxe-arm64.efi from Debian trixie's ipxe package")
	}
	netlab.RequireFiles(t, p)
	if _, err := os.Stat(filepath.Join(dir, boot.FileIPXEarm64)); err != nil {
		netlab.Missing(t, "scripts/netboot.sh did not copy IPXE_ARM64_EFI=%s into the netboot directory: %v", p, err)
	}
}

// checkIPXEOnce checks, from the console and pxe-edge's log, that the chainloading was
// loop-free: the firmware downloaded its NBP (iPXE) once, and iPXE, asking again, was given
// the script and fetched it over HTTP.
func (e *env) checkIPXEOnce(g *guest, nbpFetches int) {
	t := e.t
	t.Helper()
	out := e.pxe.Output()
	if n := nbpFetches; n != 1 {
		t.Errorf("the firmware fetched %s %d times, want once (a chainloading loop?)\nserver log:\n%s", boot.FileIPXEarm64, n, tail(out, 6000))
	}
	// Every DHCP ACK to iPXE (kind ipxe-…) carries the script's URL, never the binary again.
	script, acks := "file=http://"+e.ServerIP()+"/boot.ipxe", 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `msg="dhcp: ACK"`) && strings.Contains(l, "kind=ipxe-") {
			acks++
			if !strings.Contains(l, script+" ") {
				t.Errorf("iPXE was not given the script (%s): %s", script, l)
			}
		}
	}
	if acks == 0 {
		t.Errorf("no DHCP ACK to iPXE in the server log:\n%s", tail(out, 6000))
	}
	if !strings.Contains(out, "method=GET path=/boot.ipxe status=200") {
		t.Errorf("the server did not serve boot.ipxe over HTTP:\n%s", tail(out, 6000))
	}
	if !strings.Contains(g.Console(), "iPXE") {
		t.Errorf("the console never showed iPXE")
	}
}

// Scenario 3 with pxe-edge's default policy (no --boot-map): arm64 UEFI (AAVMF on -M virt,
// EDK2's own PXE, arch 11) in full mode with --ipxe --http gets ipxe-arm64.efi over TFTP;
// the iPXE it starts asks again (user class iPXE) and gets boot.ipxe's http:// URL, whose
// marker reaches the console.
func TestUEFIARM64IPXE(t *testing.T) {
	e := newEnv(t, 15)
	requireIPXEARM64(t, e.dir)
	e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	c := e.capture(spec("aavmf-ipxe-pxe"))
	g := e.startGuest("aavmf-ipxe", aavmfGuest(t, e.tap(), "52:54:00:70:15:10")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	g.wait("pxe-edge: buildarch=arm64 platform=efi", 10e9)
	t.Logf("AAVMF PXE → ipxe-arm64.efi → boot.ipxe in %v", took.Round(100e6))
	con := g.Console()
	if !strings.Contains(con, "Start PXE over IPv4") {
		t.Errorf("the boot did not go through EDK2's PXE")
	}
	e.checkIPXEOnce(g, strings.Count(con, "NBP file downloaded successfully"))
}

// Scenario 3, UEFI HTTP boot with the default policy: AAVMF with its PXE options off (the
// fw_cfg knobs, as in TestUEFIARM64HTTPBoot) boots its HTTPv4 option (arch 19, vendor class
// HTTPClient), gets http://<server>/ipxe-arm64.efi and starts it; iPXE gets the script.
func TestUEFIARM64IPXEHTTPBoot(t *testing.T) {
	e := newEnv(t, 16)
	requireIPXEARM64(t, e.dir)
	e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80")
	c := e.capture(spec("aavmf-ipxe-http"))
	g := e.startGuest("aavmf-ipxe-http", aavmfGuest(t, e.tap(), "52:54:00:70:16:10",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")...)
	g.wait("URI: http://"+e.ServerIP()+"/"+boot.FileIPXEarm64, guestTimeout)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	c.finish()
	g.wait("pxe-edge: buildarch=arm64 platform=efi", 10e9)
	t.Logf("AAVMF HTTP boot → ipxe-arm64.efi → boot.ipxe in %v", took.Round(100e6))
	if con := g.Console(); !strings.Contains(con, "UEFI HTTPv4") || strings.Contains(con, "Start PXE over IPv4") {
		t.Errorf("the firmware did not boot through its HTTPv4 boot option alone")
	}
	e.checkIPXEOnce(g, strings.Count(e.pxe.Output(), "method=GET path=/"+boot.FileIPXEarm64+" status=200"))
}

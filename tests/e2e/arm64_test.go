package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// grubARM64 is the arm64 GRUB netboot image scripts/netboot.sh copies in when asked to
// (GRUB_ARM64_EFI, GRUB_ARM64_DEB or NETBOOT_FETCH_GRUB_ARM64=1; see its header). These
// tests prove --boot-map's per-architecture override with it; arm64_ipxe_test.go proves the
// default policy (ipxe-arm64.efi, which Debian bookworm does not ship: IPXE_ARM64_EFI).
const grubARM64 = "grubnetaa64.efi"

// requireGRUBARM64 skips (fails in CI) unless the netboot directory holds the GRUB image.
func requireGRUBARM64(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, grubARM64)); err != nil {
		netlab.Missing(t, "%s is not in the netboot directory: Debian bookworm has no arm64 iPXE; give scripts/netboot.sh "+
			"GRUB_ARM64_DEB=/path/grub-efi-arm64-bin_*_arm64.deb (from `dpkg --add-architecture arm64 && apt-get update && "+
			"apt-get download grub-efi-arm64-bin:arm64`) or GRUB_ARM64_EFI=/path/grubnetaa64.efi", grubARM64)
	}
}

// bootMap writes a --boot-map file giving arm64 UEFI (11) and arm64 HTTP boot (19) GRUB.
func (e *env) bootMapGRUB() string {
	p := filepath.Join(e.state, "..", filepath.Base(e.state)+"-bootmap.json")
	writeFile(e.t, p, []byte(`{"11": "`+grubARM64+`", "19": "`+grubARM64+`"}`))
	return p
}

// Scenario 3: arm64 UEFI (AAVMF on -M virt, EDK2's own PXE, arch 11) in full mode gets GRUB
// over TFTP (the per-architecture override, as Debian has no arm64 iPXE), and GRUB reads
// grub/grub.cfg from pxe-edge and prints its marker.
func TestUEFIARM64PXE(t *testing.T) {
	e := newEnv(t, 6)
	requireGRUBARM64(t, e.dir)
	e.startServer("--dhcp", "--http", "--http-port", "80", "--boot-map", e.bootMapGRUB())
	c := e.capture(spec("aavmf-pxe"))
	g := e.startGuest("aavmf", aavmfGuest(t, e.tap(), "52:54:00:70:06:10")...)
	took := g.wait("pxe-edge: grub.cfg reached", guestTimeout)
	c.finish()
	g.wait("pxe-edge: platform=efi cpu=arm64", 10e9)
	t.Logf("AAVMF PXE → GRUB → grub.cfg in %v", took.Round(100e6))
	if !strings.Contains(g.Console(), "Start PXE over IPv4") {
		t.Errorf("the boot did not go through EDK2's PXE")
	}
}

// Scenario 3: arm64 UEFI HTTP boot (arch 19). As for OVMF, the firmware's PXE options are
// switched off through fw_cfg so its boot manager takes the HTTPv4 option; the firmware gets
// http://<server>/grubnetaa64.efi (option 60 HTTPClient) and starts it. GRUB then sets
// $prefix to (http,<server>)/grub, but Debian's grubnetaa64.efi has no http module ("disk
// `http,…' not found"), so it stops at its prompt; the test types a TFTP root on the same
// server and GRUB reads grub/grub.cfg from pxe-edge over TFTP. (A GRUB image with the http
// module, e.g. from grub-mkimage, would go on by itself.)
func TestUEFIARM64HTTPBoot(t *testing.T) {
	e := newEnv(t, 7)
	requireGRUBARM64(t, e.dir)
	e.startServer("--dhcp", "--http", "--http-port", "80", "--boot-map", e.bootMapGRUB())
	c := e.capture(spec("aavmf-http"))
	g := e.startGuest("aavmf-http", aavmfGuest(t, e.tap(), "52:54:00:70:07:10",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")...)
	g.wait("Start HTTP Boot over IPv4", guestTimeout)
	g.wait("URI: http://"+e.ServerIP()+"/"+grubARM64, guestTimeout)
	g.wait("grub> ", guestTimeout)
	for _, cmd := range []string{"net_bootp", "set root=(tftp," + e.ServerIP() + ")"} {
		n := strings.Count(g.Console(), "grub> ")
		g.typeLine(cmd)
		g.waitCount("grub> ", n+1, 60*time.Second)
	}
	g.typeLine("configfile /grub/grub.cfg")
	took := g.wait("pxe-edge: grub.cfg reached", guestTimeout)
	c.finish()
	t.Logf("AAVMF HTTP boot → GRUB → grub.cfg in %v", took.Round(100e6))
	if c := g.Console(); !strings.Contains(c, "UEFI HTTPv4") || strings.Contains(c, "Start PXE over IPv4") {
		t.Errorf("the firmware did not boot through its HTTPv4 boot option alone")
	}
}

package bootfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

var netbootScript = filepath.Join("..", "..", "scripts", "netboot.sh")

func runNetboot(t *testing.T, dest string, env ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("bash", netbootScript, dest)
	// The script's optional inputs come only from the test: `make test` exports
	// IPXE_ARM64_EFI and GRUB_ARM64_DEB for the firmware tests, which would change what the
	// script copies and warns about. exec keeps the last value of a repeated key.
	base := append(os.Environ(), "IPXE_ARM64_EFI=", "GRUB_ARM64_EFI=", "GRUB_ARM64_DEB=", "NETBOOT_FETCH_GRUB_ARM64=")
	cmd.Env = append(base, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestNetbootScript runs scripts/netboot.sh (what `make netboot` runs) into a temp dir:
// it copies every binary from the Debian packages, a second run writes nothing, and the
// manifest names each file.
func TestNetbootScript(t *testing.T) {
	netlab.RequireCommands(t, "bash", "dpkg-query")
	srcs := map[string]string{
		"undionly.kpxe": "/usr/lib/ipxe/undionly.kpxe",
		"ipxe.efi":      "/usr/lib/ipxe/ipxe.efi",
		"snponly.efi":   "/usr/lib/ipxe/snponly.efi",
		"pxelinux.0":    "/usr/lib/PXELINUX/pxelinux.0",
		"ldlinux.c32":   "/usr/lib/syslinux/modules/bios/ldlinux.c32",
		"menu.c32":      "/usr/lib/syslinux/modules/bios/menu.c32",
	}
	for _, p := range srcs {
		netlab.RequireFiles(t, p)
	}
	dest := t.TempDir()
	out, errOut, err := runNetboot(t, dest)
	if err != nil {
		t.Fatalf("netboot.sh: %v\n%s%s", err, out, errOut)
	}
	for name, src := range srcs {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil {
			t.Fatalf("%s not copied: %v\n%s", name, err, out)
		}
		want, _ := os.ReadFile(src)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, src)
		}
		if !strings.Contains(out, "copied  "+name) {
			t.Errorf("output does not report %s:\n%s", name, out)
		}
	}
	manifest, err := os.ReadFile(filepath.Join(dest, ".netboot-manifest"))
	if err != nil || !strings.Contains(string(manifest), "undionly.kpxe\t") {
		t.Errorf("manifest: %v\n%s", err, manifest)
	}
	if _, statErr := os.Stat("/usr/lib/ipxe/ipxe-arm64.efi"); statErr != nil && !strings.Contains(errOut, "no arm64 iPXE EFI") {
		t.Errorf("no warning about the missing arm64 iPXE:\n%s", errOut)
	}

	// Second run: nothing copied, nothing rewritten.
	st1, _ := os.Stat(filepath.Join(dest, "undionly.kpxe"))
	m1, _ := os.Stat(filepath.Join(dest, ".netboot-manifest"))
	time.Sleep(20 * time.Millisecond)
	out, errOut, err = runNetboot(t, dest)
	if err != nil || !strings.Contains(out, " 0 copied") {
		t.Fatalf("second run: %v\n%s%s", err, out, errOut)
	}
	st2, _ := os.Stat(filepath.Join(dest, "undionly.kpxe"))
	m2, _ := os.Stat(filepath.Join(dest, ".netboot-manifest"))
	if !st1.ModTime().Equal(st2.ModTime()) || !m1.ModTime().Equal(m2.ModTime()) {
		t.Error("second run rewrote files")
	}

	// An arm64 iPXE from elsewhere is copied in on request.
	fake := filepath.Join(t.TempDir(), "snp.efi")
	os.WriteFile(fake, []byte("MZ fake arm64 efi"), 0o644)
	out, errOut, err = runNetboot(t, dest, "IPXE_ARM64_EFI="+fake)
	if err != nil || !strings.Contains(out, "copied  ipxe-arm64.efi") {
		t.Fatalf("IPXE_ARM64_EFI: %v\n%s%s", err, out, errOut)
	}
	out, _, err = runNetboot(t, dest)
	if err != nil || !strings.Contains(out, "kept    ipxe-arm64.efi") && !strings.Contains(out, "ipxe-arm64.efi") {
		t.Errorf("existing ipxe-arm64.efi not kept: %v\n%s", err, out)
	}
}

// TestNetbootScriptMissingPackage: with the packages absent the script fails and names them.
func TestNetbootScriptMissingPackage(t *testing.T) {
	netlab.RequireCommands(t, "bash")
	out, errOut, err := runNetboot(t, t.TempDir(), "NETBOOT_SYSROOT="+t.TempDir())
	if err == nil {
		t.Fatalf("netboot.sh succeeded without packages:\n%s", out)
	}
	if !strings.Contains(errOut, "apt-get install ipxe pxelinux syslinux-common") {
		t.Errorf("error does not name the packages:\n%s", errOut)
	}
}

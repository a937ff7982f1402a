package isotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// Tree writes files (slash-separated path → content) below dir.
func Tree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Xorriso runs `xorriso -as mkisofs <args> -o out tree` and returns out. It skips the test
// (fails under CI=true) when xorriso is missing.
func Xorriso(t testing.TB, tree, out string, args ...string) string {
	t.Helper()
	netlab.RequireCommands(t, "xorriso")
	argv := append([]string{"-as", "mkisofs", "-quiet"}, args...)
	argv = append(argv, "-o", out, tree)
	if b, err := exec.Command("xorriso", argv...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso %v: %v\n%s", argv, err, b)
	}
	return out
}

// Extract unpacks the whole image with xorriso's osirrox into dir.
func Extract(t testing.TB, iso, dir string) {
	t.Helper()
	netlab.RequireCommands(t, "xorriso")
	cmd := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xorriso extract: %v\n%s", err, b)
	}
}

// EFIBootImage makes a small FAT image holding EFI/BOOT/<name> (e.g. BOOTX64.EFI), as
// distributions ship for El Torito UEFI entries. Needs mkfs.vfat and mtools.
func EFIBootImage(t testing.TB, out string, names ...string) string {
	t.Helper()
	return FATImage(t, out, 1440, 12, names...)
}

// FATImage makes a FAT image of sizeKiB with the given FAT width (12, 16 or 32) holding
// EFI/BOOT/<name> for each name.
func FATImage(t testing.TB, out string, sizeKiB, bits int, names ...string) string {
	t.Helper()
	netlab.RequireCommands(t, "mkfs.vfat", "mmd", "mcopy")
	run := func(name string, args ...string) {
		if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", strconv.Itoa(bits), "-C", out, strconv.Itoa(sizeKiB)}
	if bits == 32 {
		args = append([]string{"-S", "512", "-s", "1"}, args...)
	}
	run("mkfs.vfat", args...)
	run("mmd", "-i", out, "::/EFI", "::/EFI/BOOT")
	for _, n := range names {
		src := filepath.Join(t.TempDir(), n)
		if err := os.WriteFile(src, []byte("MZ fake EFI application "+n), 0o644); err != nil {
			t.Fatal(err)
		}
		run("mcopy", "-i", out, src, "::/EFI/BOOT/"+n)
	}
	return out
}

// Isolinux is the BIOS boot loader file of Debian's isolinux package and the isohybrid MBR
// of syslinux-common/isolinux.
const (
	Isolinux    = "/usr/lib/ISOLINUX/isolinux.bin"
	IsohdpfxMBR = "/usr/lib/ISOLINUX/isohdpfx.bin"
	LdLinux     = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// XorrisoNative runs xorriso with args in its own command language (e.g. -compliance rules
// the mkisofs emulation does not offer).
func XorrisoNative(t testing.TB, args ...string) {
	t.Helper()
	netlab.RequireCommands(t, "xorriso")
	if b, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso %v: %v\n%s", args, err, b)
	}
}

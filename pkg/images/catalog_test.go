package images

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// distroISOs builds one ISO per recipe family with the layout the real ISOs have.
func distroISOs(t testing.TB, dir string) {
	k := fakeBzImage()
	buildISO(t, dir, "debian-12-amd64-netinst.iso", isoSpec{vol: "Debian 12.5.0 amd64 n", bios: true, efi: true, files: map[string][]byte{
		"install.amd/vmlinuz": k, "install.amd/initrd.gz": []byte("initrd"), ".disk/info": []byte("Debian"),
	}})
	buildISO(t, dir, "debian-live-12.iso", isoSpec{vol: "d-live 12.5.0 st amd64", bios: true, files: map[string][]byte{
		"live/vmlinuz-6.1.0-18-amd64": k, "live/initrd.img-6.1.0-18-amd64": []byte("i"), "live/filesystem.squashfs": []byte("sq"),
	}})
	buildISO(t, dir, "ubuntu-24.04-live-server-amd64.iso", isoSpec{vol: "Ubuntu-Server 24.04 LTS amd64", efi: true, files: map[string][]byte{
		"casper/vmlinuz": k, "casper/initrd": []byte("i"),
	}})
	buildISO(t, dir, "alpine-standard-3.19.1-x86_64.iso", isoSpec{vol: "alpine-std 3.19.1 x86_64", bios: true, files: map[string][]byte{
		"boot/vmlinuz-lts": k, "boot/initramfs-lts": []byte("i"), "boot/modloop-lts": []byte("m"), "apks/x86_64/APKINDEX.tar.gz": []byte("a"),
	}})
	buildISO(t, dir, "Fedora-Server-netinst-x86_64-40.iso", isoSpec{vol: "Fedora-S-dvd-x86_64-40", efi: true, files: map[string][]byte{
		"images/pxeboot/vmlinuz": k, "images/pxeboot/initrd.img": []byte("i"), "images/install.img": []byte("s"),
	}})
	buildISO(t, dir, "Rocky-9-dvd.iso", isoSpec{vol: "Rocky-9-4-x86_64-dvd", efi: true, files: map[string][]byte{
		"images/pxeboot/vmlinuz": k, "images/pxeboot/initrd.img": []byte("i"), "BaseOS/repodata/repomd.xml": []byte("r"),
	}})
	buildISO(t, dir, "archlinux-2024.01.01-x86_64.iso", isoSpec{vol: "ARCH_202401", bios: true, efi: true, files: map[string][]byte{
		"arch/boot/x86_64/vmlinuz-linux": k, "arch/boot/x86_64/initramfs-linux.img": []byte("i"), "arch/boot/intel-ucode.img": []byte("u"),
	}})
	buildISO(t, dir, "debian-12-arm64-netinst.iso", isoSpec{vol: "Debian 12.5.0 arm64 n", files: map[string][]byte{
		"install.a64/vmlinuz": fakeArm64Image(), "install.a64/initrd.gz": []byte("i"),
	}})
	buildISO(t, dir, "tiny-bios.iso", isoSpec{vol: "TINY", bios: true, files: map[string][]byte{"core.gz": []byte("c")}})
	buildISO(t, dir, "big-uefi-only.iso", isoSpec{vol: "SOMETHING", efi: true, files: map[string][]byte{"x": []byte("x")}})
	buildISO(t, dir, "data-only.iso", isoSpec{vol: "DATA", files: map[string][]byte{"readme.txt": []byte("r")}})
}

func TestCatalogRecipesAndFallbacks(t *testing.T) {
	dir := t.TempDir()
	distroISOs(t, dir)
	// Broken and odd entries.
	os.WriteFile(filepath.Join(dir, "garbage.iso"), bytes.Repeat([]byte("junk"), 20000), 0o644)
	full, _ := os.ReadFile(filepath.Join(dir, "debian-12-amd64-netinst.iso"))
	os.WriteFile(filepath.Join(dir, "truncated.iso"), full[:len(full)/2], 0o644)
	os.WriteFile(filepath.Join(dir, "rescue.ipxe"), []byte("#!ipxe\nshell\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.iso"), []byte("n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755)
	os.Symlink(filepath.Join(dir, "missing-usb-stick.iso"), filepath.Join(dir, "usb.iso"))

	c := NewCatalog(dir, nil)
	if err := c.Rescan(); err != nil {
		t.Fatal(err)
	}
	type want struct {
		recipe   string
		method   Method
		archs    string
		bootable bool
		reason   string // substring
		kernel   string
		initrds  string
	}
	wants := map[string]want{
		"debian-12-amd64-netinst.iso":         {"debian-installer-amd64", MethodKernel, "pcbios,x86_64-efi", true, "", "install.amd/vmlinuz", "install.amd/initrd.gz"},
		"debian-live-12.iso":                  {"debian-live", MethodKernel, "pcbios,x86_64-efi", true, "", "live/vmlinuz-6.1.0-18-amd64", "live/initrd.img-6.1.0-18-amd64"},
		"ubuntu-24.04-live-server-amd64.iso":  {"ubuntu-casper", MethodKernel, "pcbios,x86_64-efi", true, "", "casper/vmlinuz", "casper/initrd"},
		"alpine-standard-3.19.1-x86_64.iso":   {"alpine-lts", MethodKernel, "pcbios,x86_64-efi", true, "", "boot/vmlinuz-lts", "boot/initramfs-lts"},
		"Fedora-Server-netinst-x86_64-40.iso": {"fedora-netinst", MethodKernel, "pcbios,x86_64-efi", true, "", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"},
		"Rocky-9-dvd.iso":                     {"fedora-family-repo", MethodKernel, "pcbios,x86_64-efi", true, "", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"},
		"archlinux-2024.01.01-x86_64.iso":     {"arch", MethodKernel, "pcbios,x86_64-efi", true, "", "arch/boot/x86_64/vmlinuz-linux", "arch/boot/intel-ucode.img,arch/boot/x86_64/initramfs-linux.img"},
		"debian-12-arm64-netinst.iso":         {"debian-installer-arm64", MethodKernel, "arm64-efi", true, "", "install.a64/vmlinuz", "install.a64/initrd.gz"},
		"tiny-bios.iso":                       {"", MethodMemdisk, "pcbios", true, "", "", ""},
		"big-uefi-only.iso":                   {"", MethodSanboot, "x86_64-efi", true, "", "", ""},
		"data-only.iso":                       {"", MethodNone, "", false, "no El Torito", "", ""},
		"garbage.iso":                         {"", MethodNone, "", false, "not an ISO 9660", "", ""},
		"truncated.iso":                       {"", MethodNone, "", false, "", "", ""},
		"rescue.ipxe":                         {"", MethodScript, "", true, "", "", ""},
		"notes.txt":                           {"", MethodNone, "", false, "unknown file type", "", ""},
		"empty-dir":                           {"", MethodNone, "", false, "no kernel", "", ""},
		"usb.iso":                             {"", MethodNone, "", false, "unreadable", "", ""},
	}
	got := c.Entries()
	if len(got) != len(wants) {
		var names []string
		for _, e := range got {
			names = append(names, e.Name)
		}
		t.Errorf("%d entries %v, want %d", len(got), names, len(wants))
	}
	for _, e := range got {
		w, ok := wants[e.Name]
		if !ok {
			t.Errorf("unexpected entry %q", e.Name)
			continue
		}
		var archs []string
		for _, a := range e.Archs {
			archs = append(archs, string(a))
		}
		if e.Recipe != w.recipe || e.Method != w.method || strings.Join(archs, ",") != w.archs || e.Bootable != w.bootable ||
			!strings.Contains(e.Reason, w.reason) || e.Kernel != w.kernel || strings.Join(e.Initrds, ",") != w.initrds {
			t.Errorf("%s:\n got  recipe=%q method=%q archs=%v bootable=%v reason=%q kernel=%q initrds=%v\n want %+v",
				e.Name, e.Recipe, e.Method, archs, e.Bootable, e.Reason, e.Kernel, e.Initrds, w)
		}
		if !e.Bootable && e.Reason == "" {
			t.Errorf("%s: not bootable without a reason", e.Name)
		}
	}
}

func TestCatalogDebianNetbootDir(t *testing.T) {
	for _, f := range []string{"linux", "initrd.gz"} {
		if _, err := os.Stat(filepath.Join(debianNetboot, f)); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("debian-installer-12-netboot-amd64 missing: %v", err)
			}
			t.Skipf("debian-installer-12-netboot-amd64 missing: %v", err)
		}
	}
	dir := t.TempDir()
	// The package's layout, linked in as a user would copy it.
	entry := filepath.Join(dir, "debian-installer")
	os.MkdirAll(filepath.Join(entry, "debian-installer"), 0o755)
	if err := os.Symlink(debianNetboot, filepath.Join(entry, "debian-installer", "amd64")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(entry, "cmdline"), []byte("console=ttyS0\n  priority=critical\n"), 0o644)
	c := NewCatalog(dir, nil)
	if err := c.Rescan(); err != nil {
		t.Fatal(err)
	}
	e, ok := c.Lookup("debian-installer")
	if !ok || !e.Bootable {
		t.Fatalf("entry %+v", e)
	}
	if e.Kernel != "debian-installer/amd64/linux" || !slices.Equal(e.Initrds, []string{"debian-installer/amd64/initrd.gz"}) ||
		e.Args != "console=ttyS0 priority=critical" || !slices.Equal(e.Archs, []Arch{ArchBIOS, ArchX64EFI}) {
		t.Errorf("entry %+v", e)
	}
}

// TestCatalogRescan: unchanged entries are not probed again; changed, added and removed
// ones are noticed; a broken entry does not disturb the rest.
func TestCatalogRescan(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.ipxe"), []byte("#!ipxe"), 0o644)
	c := NewCatalog(dir, nil)
	c.Rescan()
	g1 := c.Generation()
	c.Rescan()
	if c.Generation() != g1 {
		t.Error("an unchanged directory changed the generation")
	}
	os.WriteFile(filepath.Join(dir, "b.iso"), []byte("not an iso"), 0o644)
	c.Rescan()
	if c.Generation() == g1 || len(c.Entries()) != 2 {
		t.Fatalf("added entry not seen: %+v", c.Entries())
	}
	if e, _ := c.Lookup("b.iso"); e.Bootable {
		t.Error("junk ISO bootable")
	}
	if e, _ := c.Lookup("a.ipxe"); !e.Bootable {
		t.Error("script broken by a neighbour")
	}
	g2 := c.Generation()
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "a.ipxe"), later, later)
	c.Rescan()
	if c.Generation() == g2 {
		t.Error("modified entry not noticed")
	}
	os.Remove(filepath.Join(dir, "b.iso"))
	c.Rescan()
	if _, ok := c.Lookup("b.iso"); ok {
		t.Error("removed entry still listed")
	}
	// A missing directory is an empty catalogue, not an error.
	c2 := NewCatalog(filepath.Join(dir, "nope"), nil)
	if err := c2.Rescan(); err != nil || len(c2.Entries()) != 0 {
		t.Errorf("missing dir: %v %v", err, c2.Entries())
	}
}

// TestCatalogHoldsNoDescriptors: scanning opens files only while probing them.
func TestCatalogHoldsNoDescriptors(t *testing.T) {
	dir := t.TempDir()
	distroISOs(t, dir)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := fds()
	c := NewCatalog(dir, nil)
	for range 3 {
		c.Rescan()
	}
	if after := fds(); after > before {
		t.Errorf("%d descriptors before the scans, %d after", before, after)
	}
}

// TestCatalogConcurrent: readers and the handler run while the directory changes and
// rescans run (go test -race).
func TestCatalogConcurrent(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.ipxe"), []byte("#!ipxe\n"), 0o644)
	c := NewCatalog(dir, nil)
	c.Rescan()
	h := &Handler{Catalog: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			p := filepath.Join(dir, "b"+strconv.Itoa(i%3)+".ipxe")
			if i%2 == 0 {
				os.WriteFile(p, []byte("#!ipxe\n"), 0o644)
			} else {
				os.Remove(p)
			}
			c.Rescan()
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		for _, e := range c.Entries() {
			c.Lookup(e.Name)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/images/a.ipxe", nil))
		if rec.Code != 200 {
			t.Fatalf("a.ipxe: %d", rec.Code)
		}
		_ = IPXEMenu(c.Entries(), Client{Arch: ArchBIOS}, profiles.Decision{})
	}
}

package images

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

var update = flag.Bool("update", false, "rewrite the golden menus in testdata/golden")

// menuCatalog is a fixed catalogue covering every method and a broken entry.
func menuCatalog() []Entry {
	return []Entry{
		{Name: "alpine.iso", Kind: KindISO, Label: "Alpine Linux (alpine-std 3.19)", Recipe: "alpine-lts", Method: MethodKernel,
			Archs: []Arch{ArchBIOS, ArchX64EFI}, Kernel: "boot/vmlinuz-lts", Initrds: []string{"boot/initramfs-lts"},
			Args: "ip=dhcp modloop={base}boot/modloop-lts alpine_repo={base}apks", Memdisk: true, Bootable: true},
		{Name: "broken.iso", Kind: KindISO, Reason: "iso9660: corrupt image: truncated"},
		{Name: "debian-arm64.iso", Kind: KindISO, Label: "Debian installer (Debian 12 arm64 n)", Method: MethodKernel,
			Archs: []Arch{ArchARM64EFI}, Kernel: "install.a64/vmlinuz", Initrds: []string{"install.a64/initrd.gz"}, Bootable: true},
		{Name: "debian-installer", Kind: KindDir, Label: "debian-installer", Method: MethodKernel, Archs: []Arch{ArchBIOS, ArchX64EFI},
			Kernel: "debian-installer/amd64/linux", Initrds: []string{"debian-installer/amd64/initrd.gz"}, Args: "priority=critical", Bootable: true},
		{Name: "ipxe.iso", Kind: KindISO, Label: "iPXE", Method: MethodMemdisk, Archs: []Arch{ArchBIOS}, Memdisk: true, Bootable: true},
		{Name: "live $weird name.iso", Kind: KindISO, Label: "LIVE", Method: MethodSanboot, Archs: []Arch{ArchBIOS, ArchX64EFI}, Bootable: true},
		{Name: "rescue.ipxe", Kind: KindScript, Label: "rescue", Method: MethodScript, Bootable: true},
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func TestMenusGolden(t *testing.T) {
	ents := menuCatalog()
	bios := Client{Arch: ArchBIOS, MAC: "52:54:00:00:00:01", ServerURL: "http://10.70.0.1:8080"}
	efi := Client{Arch: ArchX64EFI, MAC: "52:54:00:00:00:02", ServerURL: "http://10.70.0.1:8080"}
	arm := Client{Arch: ArchARM64EFI, MAC: "52:54:00:00:00:03", ServerURL: "http://10.70.0.1"}
	menu := profiles.Decision{Default: "debian-installer", Timeout: 10 * time.Second, Args: "console=ttyS0"}
	once := profiles.Decision{Profile: "lab", Default: "alpine.iso", Timeout: 0, Args: "console=ttyS0", BootOnce: true}
	local := profiles.Decision{Default: profiles.Local, Timeout: 5 * time.Second}
	golden(t, "bios-menu.ipxe", IPXEMenu(ents, bios, menu))
	golden(t, "efi-bootonce.ipxe", IPXEMenu(ents, efi, once))
	golden(t, "efi-local.ipxe", IPXEMenu(ents, efi, local))
	golden(t, "pxelinux-menu.cfg", PXELinuxMenu(ents, bios, menu))
	golden(t, "pxelinux-straight.cfg", PXELinuxMenu(ents, bios, once))
	golden(t, "grub-arm64.cfg", GRUBMenu(ents, arm, profiles.Decision{Default: "debian-arm64.iso", Timeout: 3 * time.Second}))
	efiHTTP := efi
	efiHTTP.GRUBDevice = "(http,10.70.0.1:8080)"
	golden(t, "grub-x64-straight.cfg", GRUBMenu(ents, efiHTTP, once))
	sb := efi
	sb.SecureBoot = true
	golden(t, "grub-x64-secureboot.cfg", GRUBMenu(ents, sb, menu))
	// A default that needs an unsigned loader falls back to the local disk.
	golden(t, "grub-x64-secureboot-default.cfg", GRUBMenu(ents, sb, profiles.Decision{Default: "rescue.ipxe", Timeout: 3 * time.Second}))
}

// TestGRUBMenuSecureBoot: under Secure Boot every entry either loads a kernel through GRUB
// (which shim verifies), exits, or only prints why it cannot boot; never an unsigned loader.
func TestGRUBMenuSecureBoot(t *testing.T) {
	ents := menuCatalog()
	for _, a := range []Arch{ArchX64EFI, ArchARM64EFI} {
		c := Client{Arch: a, MAC: "52:54:00:00:00:09", ServerURL: "http://10.70.0.1:8080", SecureBoot: true}
		cfg := GRUBMenu(ents, c, profiles.Decision{Default: "rescue.ipxe", Timeout: time.Second})
		if strings.Contains(cfg, "set default=e") {
			t.Errorf("%s: an entry that cannot boot is the default:\n%s", a, cfg)
		}
		for _, line := range strings.Split(cfg, "\n") {
			if !strings.HasPrefix(line, "  ") {
				continue
			}
			switch f := strings.Fields(line); f[0] {
			case "echo", "sleep", "exit", "initrd":
			case "linux":
				if strings.Contains(f[1], "memdisk") || strings.HasSuffix(f[1], ".iso'") {
					t.Errorf("%s: Secure Boot menu loads %s", a, f[1])
				}
			default:
				t.Errorf("%s: Secure Boot menu runs %q", a, line)
			}
		}
		if n := strings.Count(cfg, "cannot boot under Secure Boot)"); n != 3 {
			t.Errorf("%s: %d entries marked unbootable, want 3 (script, sanboot, memdisk):\n%s", a, n, cfg)
		}
		plain := c
		plain.SecureBoot = false
		if strings.Contains(GRUBMenu(ents, plain, profiles.Decision{}), "Secure Boot") {
			t.Errorf("%s: the menu without Secure Boot mentions it", a)
		}
	}
}

// TestMenuInvariants checks properties the golden files show once, over every client kind.
func TestMenuInvariants(t *testing.T) {
	ents := menuCatalog()
	for _, a := range []Arch{ArchBIOS, ArchX64EFI, ArchARM64EFI, ArchIA32EFI} {
		c := Client{Arch: a, MAC: "52:54:00:00:00:09", ServerURL: "http://10.70.0.1:8080"}
		for _, d := range []profiles.Decision{
			{Default: "alpine.iso", Timeout: 0, BootOnce: true},
			{Default: "nope", Timeout: time.Second},
		} {
			m := IPXEMenu(ents, c, d)
			if a.EFI() != strings.Contains(m, "\nexit\n") || a.EFI() == strings.Contains(m, "--drive 0x80") {
				t.Errorf("%s: wrong local boot:\n%s", a, m)
			}
			if strings.Contains(m, "$weird") {
				t.Errorf("%s: unescaped $ in menu", a)
			}
			for _, e := range ents {
				shown := strings.Contains(m, "item e") && strings.Contains(m, " "+menuText(e.Name)+" ")
				if e.BootsOn(a) && !shown && e.Bootable {
					t.Errorf("%s: %s missing", a, e.Name)
				}
			}
			hasOnce := strings.Contains(m, "?once=")
			if hasOnce != (d.BootOnce && (&ents[0]).BootsOn(a)) {
				t.Errorf("%s: boot-once marker present=%v", a, hasOnce)
			}
			if d.Default == "nope" && !strings.Contains(m, "--default local") {
				t.Errorf("%s: an unknown default must fall back to the local disk", a)
			}
		}
	}
	name, ok := MenuDefault(ents, Client{Arch: ArchBIOS}, profiles.Decision{Default: "ipxe.iso"}, "pxelinux")
	if !ok || name != "ipxe.iso" {
		t.Errorf("MenuDefault pxelinux: %q %v", name, ok)
	}
	if _, ok := MenuDefault(ents, Client{Arch: ArchARM64EFI}, profiles.Decision{Default: "ipxe.iso"}, "grub"); ok {
		t.Error("MenuDefault: a BIOS-only entry is not a GRUB arm64 default")
	}
}

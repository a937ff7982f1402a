package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestQEMUPXELinuxMemdisk is PyPXE's own workflow with a generated menu: a BIOS guest's
// iPXE ROM gets pxelinux.0 from DHCP (dnsmasq, DHCP only, on a tap device inside a
// namespace), pxelinux reads the pxelinux.cfg/default the catalogue generates (menu.c32,
// a one-second timeout), its default entry loads memdisk and the small ISO (Debian's
// ipxe.iso) by TFTP from images/ through the catalogue's overlay, and the ISO's own iPXE
// starts after memdisk's banner.
func TestQEMUPXELinuxMemdisk(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	const bios = "/usr/lib/syslinux/modules/bios/"
	netlab.RequireCommands(t, "qemu-system-x86_64", "dnsmasq")
	netlab.RequireFiles(t, "/dev/net/tun", "/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/lib/PXELINUX/pxelinux.0",
		bios+"ldlinux.c32", bios+"menu.c32", bios+"libutil.c32", bios+"libcom32.c32",
		"/usr/lib/syslinux/memdisk", "/usr/lib/ipxe/ipxe.iso")
	const srvIP = "10.70.14.1"
	netboot, images := t.TempDir(), t.TempDir()
	for src, dst := range map[string]string{
		"/usr/lib/PXELINUX/pxelinux.0": "pxelinux.0", bios + "ldlinux.c32": "ldlinux.c32", bios + "menu.c32": "menu.c32",
		bios + "libutil.c32": "libutil.c32", bios + "libcom32.c32": "libcom32.c32", "/usr/lib/syslinux/memdisk": "memdisk",
		"/usr/lib/ipxe/ipxe.iso": filepath.Join(images, "ipxe.iso"),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsAbs(dst) {
			dst = filepath.Join(netboot, dst)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat := NewCatalog(images, nil)
	cat.Rescan()
	if e, _ := cat.Lookup("ipxe.iso"); !e.Bootable || !e.Memdisk {
		t.Fatalf("ipxe.iso: %+v", e)
	}

	l := netlab.New(t)
	ns := l.Namespace("pxl")
	tmp := t.TempDir()
	qemu := ns.Start("qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-machine", "graphics=off",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:14:00:02")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := ns.Run(t.Context(), "ip", "link", "show", "tap0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("QEMU did not create tap0")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ns.MustRun("ip", "addr", "add", srvIP+"/24", "dev", "tap0")
	ns.MustRun("ip", "link", "set", "tap0", "up")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := ns.Start("env", helperEnv+"=1", "NETBOOT="+netboot, "IMAGES="+images, "ADDR="+srvIP,
		"DEFAULT=ipxe.iso", "TIMEOUT=1s", exe, "-test.run=^$")
	if !helper.WaitOutput("READY", 10*time.Second) {
		t.Fatalf("helper did not start:\n%s", helper.Output())
	}
	ns.Start("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=tap0",
		"--bind-interfaces", "--dhcp-range=10.70.14.50,10.70.14.99,255.255.255.0",
		"--dhcp-boot=pxelinux.0,,"+srvIP, "--dhcp-leasefile="+filepath.Join(tmp, "leases"))

	end := time.Now().Add(180 * time.Second)
	for {
		con := netlab.CleanConsole(qemu.Output())
		if i := strings.Index(con, "MEMDISK"); i >= 0 && strings.Contains(con[i:], "iPXE") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no iPXE from the ISO after memdisk; console tail:\n%s\nhelper:\n%s", tail(con, 3000), helper.Output())
		}
		time.Sleep(500 * time.Millisecond)
	}
	log := helper.Output()
	for _, want := range []string{"generated pxelinux.cfg/default", "file=menu.c32", "file=memdisk", "file=images/ipxe.iso"} {
		if !strings.Contains(log, want) {
			t.Errorf("helper log lacks %q:\n%s", want, log)
		}
	}
}

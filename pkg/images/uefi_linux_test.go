package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestQEMUUEFIKernelFromISO: an x86-64 UEFI guest (OVMF, EDK2's own PXE) loads Debian's
// ipxe.efi by TFTP, iPXE (user class iPXE, told apart by dnsmasq on a tap device inside a
// namespace) fetches the generated menu over HTTP, and the menu's default entry boots
// Debian's netboot installer kernel and initrd from inside an xorriso ISO through the EFI
// stub (the menu's initrd= arguments) to the installer's first screen on the serial console.
func TestQEMUUEFIKernelFromISO(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	netlab.RequireCommands(t, "qemu-system-x86_64", "dnsmasq", "xorriso")
	netlab.RequireFiles(t, "/dev/net/tun", netlab.OVMF, "/usr/lib/ipxe/ipxe.efi",
		filepath.Join(debianNetboot, "linux"), filepath.Join(debianNetboot, "initrd.gz"))
	const (
		srvIP = "10.70.14.1"
		mac   = "52:54:00:14:00:03"
	)
	netboot, images := t.TempDir(), t.TempDir()
	ipxe, err := os.ReadFile("/usr/lib/ipxe/ipxe.efi")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(netboot, "ipxe.efi"), ipxe, 0o644)
	kernel, _ := os.ReadFile(filepath.Join(debianNetboot, "linux"))
	initrd, _ := os.ReadFile(filepath.Join(debianNetboot, "initrd.gz"))
	buildISO(t, images, "debian-12-netboot.iso", isoSpec{vol: "Debian 12 amd64 n", efi: true, files: map[string][]byte{
		"install.amd/vmlinuz": kernel, "install.amd/initrd.gz": initrd,
	}})

	l := netlab.New(t)
	ns := l.Namespace("uefi")
	tmp := t.TempDir()
	qemu := ns.Start("qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-bios", netlab.OVMF,
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac="+mac)
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
	helper := ns.Start("env", helperEnv+"=1", "HTTP=1", "NETBOOT="+netboot, "IMAGES="+images, "ADDR="+srvIP,
		"MAC="+mac, "DEFAULT=debian-12-netboot.iso", "TIMEOUT=0s", exe, "-test.run=^$")
	if !helper.WaitOutput("READY", 10*time.Second) {
		t.Fatalf("helper did not start:\n%s", helper.Output())
	}
	ns.Start("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=tap0",
		"--bind-interfaces", "--dhcp-range=10.70.14.50,10.70.14.99,255.255.255.0",
		"--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-boot=tag:!ipxe,ipxe.efi,,"+srvIP,
		"--dhcp-boot=tag:ipxe,http://"+srvIP+"/menu.ipxe",
		"--dhcp-leasefile="+filepath.Join(tmp, "leases"))

	end := time.Now().Add(420 * time.Second)
	for {
		con := netlab.CleanConsole(qemu.Output())
		if strings.Contains(con, "Select a language") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no installer screen; console tail:\n%s\nhelper:\n%s", tail(con, 3000), tail(helper.Output(), 3000))
		}
		time.Sleep(time.Second)
	}
	log := helper.Output()
	for _, want := range []string{"file=ipxe.efi", "generated menu.ipxe", "path=/images/debian-12-netboot.iso/install.amd/vmlinuz",
		"path=/images/debian-12-netboot.iso/install.amd/initrd.gz"} {
		if !strings.Contains(log, want) {
			t.Errorf("helper log lacks %q:\n%s", want, tail(log, 3000))
		}
	}
}

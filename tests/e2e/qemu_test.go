package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// nic is the guest's network card on tap: virtio-net with a fixed MAC. rom "" keeps QEMU's
// default option ROM (iPXE from ipxe-qemu); rom "none" loads no ROM, so that UEFI firmware
// uses its own virtio driver and PXE base code (arch 7/11) instead of iPXE's.
func nic(tap, mac, rom string) []string {
	dev := "virtio-net-pci,netdev=n0,mac=" + mac
	if rom == "none" {
		dev += ",romfile="
	}
	return []string{"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no", "-device", dev}
}

// biosGuest is SeaBIOS booting from the network with QEMU's iPXE ROM; graphics=off puts
// SeaBIOS's and iPXE's console on the serial port (stdio).
func biosGuest(t *testing.T, tap, mac string) []string {
	netlab.RequireCommands(t, "qemu-system-x86_64")
	netlab.RequireFiles(t, "/usr/lib/ipxe/qemu/efi-virtio.rom")
	return append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-boot", "n",
		"-machine", "graphics=off", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"},
		nic(tap, mac, "")...)
}

// ovmfGuest is x86-64 UEFI (OVMF) with EDK2's own PXE (no iPXE ROM on the NIC); extra
// QEMU arguments follow (e.g. -fw_cfg knobs).
func ovmfGuest(t *testing.T, tap, mac string, extra ...string) []string {
	netlab.RequireCommands(t, "qemu-system-x86_64")
	netlab.RequireFiles(t, netlab.OVMF)
	argv := append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-bios", netlab.OVMF,
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"}, nic(tap, mac, "none")...)
	return append(argv, extra...)
}

// aavmfGuest is arm64 UEFI (AAVMF on -M virt) with EDK2's own PXE. The code flash is
// AAVMF_CODE.fd padded to 64 MiB (Debian's already is); the variable store is a fresh copy.
func aavmfGuest(t *testing.T, tap, mac string, extra ...string) []string {
	netlab.RequireCommands(t, "qemu-system-aarch64")
	netlab.RequireFiles(t, netlab.AAVMFCode, "/usr/share/AAVMF/AAVMF_VARS.fd")
	dir := t.TempDir()
	code := padTo(t, netlab.AAVMFCode, filepath.Join(dir, "code.fd"), 64<<20)
	vars := padTo(t, "/usr/share/AAVMF/AAVMF_VARS.fd", filepath.Join(dir, "vars.fd"), 64<<20)
	argv := append([]string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,file=" + vars,
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"}, nic(tap, mac, "none")...)
	return append(argv, extra...)
}

// ubootGuest is U-Boot for QEMU arm64 -M virt; its shell is on stdio.
func ubootGuest(t *testing.T, tap, mac string) []string {
	netlab.RequireCommands(t, "qemu-system-aarch64")
	netlab.RequireFiles(t, netlab.UBootARM64)
	return append([]string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512",
		"-bios", netlab.UBootARM64, "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"},
		nic(tap, mac, "none")...)
}

// padTo copies src to dst and extends it with zeros to size bytes (pflash wants the full
// size).
func padTo(t *testing.T, src, dst string, size int64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < size {
		if err := os.Truncate(dst, size); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

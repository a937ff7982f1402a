package netlab

import (
	"regexp"
	"strings"
	"time"
)

// Tap creates a tap device inside n and enslaves it to bridge (also inside n), so a QEMU guest
// started in n with `-netdev tap,ifname=<name>,script=no,downscript=no` sits on that bridge.
func (n *NS) Tap(name, bridge string) {
	n.lab.t.Helper()
	n.MustRun("ip", "tuntap", "add", "dev", name, "mode", "tap")
	n.MustRun("ip", "link", "set", name, "master", bridge)
	n.MustRun("ip", "link", "set", name, "up")
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bc`)

// CleanConsole turns a guest's serial console output into plain lines: terminal escape
// sequences (SeaBIOS's sgabios positions every character) are removed and carriage returns
// become newlines, so tests can search it for markers.
func CleanConsole(s string) string {
	s = ansi.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// WaitConsole waits until the process's cleaned console output contains substr, the process
// exits, or timeout passes; it reports whether substr was seen.
func (p *Proc) WaitConsole(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(CleanConsole(p.Output()), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-p.done:
			return strings.Contains(CleanConsole(p.Output()), substr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Firmware paths Debian packages install, for QEMU guests that act as real PXE clients.
const (
	// OVMF is x86-64 UEFI (package ovmf).
	OVMF = "/usr/share/qemu/OVMF.fd"
	// AAVMFCode is arm64 UEFI code for `-M virt` (package qemu-efi-aarch64); it is used
	// through a pflash copy padded to 64 MiB.
	AAVMFCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	// UBootARM64 is U-Boot for qemu arm64 `-M virt` (package u-boot-qemu).
	UBootARM64 = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
	// IPXEDir holds iPXE's boot files (package ipxe).
	IPXEDir = "/usr/lib/ipxe"
)

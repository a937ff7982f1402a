package board

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestDemo runs the README's first command, `make demo`, in its quickest form (ARCH=bios: the
// iPXE option ROM fetches boot.ipxe over HTTP) and checks that the guest ran netboot/boot.ipxe
// to its end, that the summary names the client's address and the files, and that the lab's
// namespaces are gone afterwards. `make demo` itself (UEFI: PXE → TFTP ipxe.efi → iPXE →
// HTTP) and ARCH=arm64 take longer and are run by hand (see the report in docs/bench/size.md).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU guest (~45 s)")
	}
	netlab.RequireRoot(t)
	netlab.RequireCommands(t, "ip", "make", "curl", "qemu-system-x86_64")
	netlab.RequireFiles(t, "/usr/lib/ipxe/qemu/efi-e1000.rom")
	out, err := run(t, 5*time.Minute, "", []string{"GUEST_TIMEOUT=150"}, "make", "--no-print-directory", "demo", "ARCH=bios")
	s := string(out)
	if err != nil {
		t.Fatalf("make demo ARCH=bios: %v\n%s", err, tail(out, 80))
	}
	for _, want := range []string{
		"pxe-edge: boot.ipxe reached",
		"pxe-edge: leaving iPXE",
		"client MAC   52:54:00:80:00:42",
		"HTTP GET /boot.ipxe: 200",
		"OK: the guest PXE-booted from pxe-edge",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`address +10\.80\.0\.\d+`).MatchString(s) {
		t.Errorf("summary has no client address in 10.80.0.0/24")
	}
	// The lab is gone: no namespace of the demo's is left.
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if m := regexp.MustCompile(`lab: namespaces (pxe-demo-\d+)-srv`).FindStringSubmatch(s); m == nil {
		t.Errorf("demo did not name its namespaces")
	} else if strings.Contains(string(ns), m[1]) {
		t.Errorf("namespaces of %s left behind:\n%s", m[1], ns)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", tail(out, 80))
	}
}

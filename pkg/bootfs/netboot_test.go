package bootfs

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// netbootDir is the repository's netboot/ tree.
var netbootDir = filepath.Join("..", "..", "netboot")

// ubootCandidates returns the names U-Boot's `pxe get` asks for, in order, for a client
// without option 209 and without the pxeuuid variable (cmd/pxe.c): 01-<mac>, the IP in 8
// upper-case hex digits shortened one digit at a time, default-<arch>-<soc>-<board>… (QEMU
// arm64: default-arm only, no SoC), default. PXELINUX asks the same, after pxelinux.cfg/<uuid>.
func ubootCandidates(mac [6]byte, ip netip.Addr) []string {
	c := []string{"pxelinux.cfg/01-" + boot.MACDashed(mac)}
	a := ip.As4()
	hex := fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
	for i := len(hex); i > 0; i-- {
		c = append(c, "pxelinux.cfg/"+hex[:i])
	}
	return append(c, "pxelinux.cfg/default-arm", "pxelinux.cfg/default")
}

// firstFound walks the candidates through s like the client does and returns the first
// name that opens, with its content.
func firstFound(t *testing.T, s *Source, client netip.Addr, names []string) (string, string) {
	t.Helper()
	for _, n := range names {
		if c, err := read(s, client, n); err == nil {
			return n, c
		}
	}
	return "", ""
}

// copyNetboot copies the committed text files of netboot/ into a temp dir plus extra files.
func copyNetboot(t *testing.T, extra map[string]string) string {
	t.Helper()
	files := map[string]string{}
	for _, p := range []string{"boot.ipxe", "boot.http.ipxe", "pxelinux.cfg/default", "hosts/README", "README.md"} {
		b, err := os.ReadFile(filepath.Join(netbootDir, p))
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(b)
	}
	for k, v := range extra {
		files[k] = v
	}
	return tree(t, files)
}

func TestUBootLookupOrder(t *testing.T) {
	// The committed tree: everyone ends at pxelinux.cfg/default.
	s := newSource(t, netbootDir)
	name, content := firstFound(t, s, ipB, ubootCandidates(macA, ipB))
	if name != "pxelinux.cfg/default" || !strings.Contains(content, "SAY pxe-edge: pxelinux.cfg/default reached") {
		t.Fatalf("U-Boot on netboot/ found %q (%d bytes)", name, len(content))
	}

	dir := copyNetboot(t, map[string]string{
		"pxelinux.cfg/01-52-54-00-12-34-56": "for A",
		"pxelinux.cfg/0A4600":               "for 10.70.0.0/24",
	})
	s = newSource(t, dir, WithMACLookup(lookup))
	for _, tc := range []struct {
		mac      [6]byte
		ip       netip.Addr
		wantName string
	}{
		{macA, ipA, "pxelinux.cfg/01-52-54-00-12-34-56"},
		{macPi, ipB, "pxelinux.cfg/0A4600"},
		{macPi, netip.MustParseAddr("10.71.0.5"), "pxelinux.cfg/default"},
	} {
		if name, _ := firstFound(t, s, tc.ip, ubootCandidates(tc.mac, tc.ip)); name != tc.wantName {
			t.Errorf("client %v %x: found %q, want %q", tc.ip, tc.mac, name, tc.wantName)
		}
	}
}

// TestNetbootMarkers guards the lines the QEMU end-to-end tests grep for.
func TestNetbootMarkers(t *testing.T) {
	for file, wants := range map[string][]string{
		"boot.ipxe": {"#!ipxe", "echo pxe-edge: boot.ipxe reached", "${netX/mac}", "${netX/ip}", "${buildarch}", "${platform}",
			"hosts/${netX/mac:hexhyp}.ipxe", "menu "},
		"boot.http.ipxe":       {"#!ipxe", "echo pxe-edge: boot.http.ipxe reached", "/boot.ipxe"},
		"pxelinux.cfg/default": {"SAY pxe-edge: pxelinux.cfg/default reached", "DEFAULT ", "LABEL "},
	} {
		b, err := os.ReadFile(filepath.Join(netbootDir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
}

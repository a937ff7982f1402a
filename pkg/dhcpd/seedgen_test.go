package dhcpd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// TestFuzzSeeds writes (with -update-seeds) and otherwise checks the committed seed corpus
// of FuzzHandle: real-client-shaped messages in the go fuzz corpus format.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string]*rawdhcp.Message{
		"discover-dhclient": request(rawdhcp.Discover, mac(1), withPRL(1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42)),
		"discover-bios-pxe": request(rawdhcp.Discover, mac(2), withPXE(0)),
		"discover-uefi-x64": request(rawdhcp.Discover, mac(3), withPXE(7)),
		"request-selecting": request(rawdhcp.Request, mac(4), withServerID(tServer), withRequested("10.40.0.101")),
		"request-renewing":  request(rawdhcp.Request, mac(5), withCIAddr("10.40.0.102")),
		"request-4011":      request(rawdhcp.Request, mac(6), withPXE(7), withCIAddr("10.40.0.9"), withServerID(tServer)),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	for name, m := range seeds {
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		sel := 0
		if name == "request-4011" {
			sel = 3
		}
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\n", b, sel)
		p := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("seed %s missing or stale (run go test -run TestFuzzSeeds -update-seeds): %v", p, err)
		}
	}
}

package dhcpd

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the FuzzHandle seeds in testdata/fuzz from the current code")

// TestGoldenReplies answers the DISCOVERs real clients sent (testdata/requests) in full and
// proxy mode and compares every reply byte with testdata/golden. Run with -update-golden
// after an intended change and review the diff.
func TestGoldenReplies(t *testing.T) {
	files, err := filepath.Glob("testdata/requests/*.hex")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured requests: %v", err)
	}
	// What each client kind must get, independent of the exact bytes.
	type expect struct {
		proxyAnswer bool   // proxy mode answers it (PXE firmware only)
		proxy43     bool   // the proxy OFFER carries option 43
		fileHas     string // full mode boot file contains this
	}
	want := map[string]expect{
		"dhclient":       {},
		"dhcpcd":         {},
		"udhcpc":         {},
		"nmap":           {},
		"qemu-bios-ipxe": {proxyAnswer: true, proxy43: false, fileHas: "boot.ipxe"}, // iPXE itself: the script
		"qemu-ovmf":      {proxyAnswer: true, proxy43: false, fileHas: ".efi"},
		"qemu-ovmf-ipxe": {proxyAnswer: true, proxy43: false, fileHas: "boot.ipxe"},
		"qemu-aavmf":     {proxyAnswer: true, proxy43: false, fileHas: ".efi"},
		"qemu-uboot":     {fileHas: "pxelinux.0"},
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".hex"), ".discover")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var req rawdhcp.Message
		if err := req.Decode(b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		exp, ok := want[name]
		if !ok {
			t.Fatalf("%s: no expectation for this client", name)
		}
		for _, mode := range []Mode{ModeFull, ModeProxy} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				cfg := testConfig()
				cfg.Boot.IPXE = true // --ipxe, the usual setup
				cfg.Mode = mode
				s, _ := newTestServer(t, cfg)
				r, resp := do(t, s, &req, 67)
				golden := filepath.Join("testdata", "golden", name+"."+mode.String()+".hex")
				var got []byte
				if r != NoReply {
					got, err = resp.Append(nil)
					if err != nil {
						t.Fatal(err)
					}
				}
				switch mode {
				case ModeFull:
					if r != ReplyOffer {
						t.Fatalf("full mode: %v", r)
					}
					if exp.fileHas != "" && !strings.Contains(string(resp.BootFileName()), exp.fileHas) {
						t.Errorf("boot file %q lacks %q", resp.BootFileName(), exp.fileHas)
					}
					if name == "qemu-uboot" && resp.SIAddr != tServer {
						t.Errorf("U-Boot without siaddr")
					}
				case ModeProxy:
					if (r == ReplyProxyOffer) != exp.proxyAnswer {
						t.Fatalf("proxy mode: %v, want an answer = %v", r, exp.proxyAnswer)
					}
					if r == ReplyProxyOffer {
						// iPXE and EDK2 take a proxy offer only with siaddr and a boot file.
						if resp.SIAddr != tServer || len(resp.BootFileName()) == 0 || !resp.YIAddr.IsUnspecified() {
							t.Errorf("proxy offer siaddr %v file %q yiaddr %v", resp.SIAddr, resp.BootFileName(), resp.YIAddr)
						}
						if _, has := resp.VendorSpecific(); has != exp.proxy43 {
							t.Errorf("option 43 present = %v, want %v", has, exp.proxy43)
						}
					}
				}
				line := hex.EncodeToString(got) + "\n"
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(line), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				old, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -run TestGoldenReplies ./pkg/dhcpd -args -update-golden)", err)
				}
				if !bytes.Equal(old, []byte(line)) {
					t.Errorf("reply differs from %s:\n got %s\nwant %s", golden, line, old)
				}
			})
		}
	}
}

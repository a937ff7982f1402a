//go:build linux

package netif

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The default-interface rule on a fake /sys/class/net: a real Ethernet device qualifies;
// Wi-Fi, virtual links, loopback and non-Ethernet links do not.
func TestWiredRule(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, files ...string) {
		for _, f := range append([]string{"device"}, files...) {
			if err := os.MkdirAll(filepath.Join(root, name, f), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("eth0")
	mk("end0")
	mk("wlan0", "wireless")
	mk("wlp2s0", "phy80211")
	mk("docker0")
	if err := os.MkdirAll(filepath.Join(root, "veth9"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ, encap, name string
		flags            net.Flags
		want             bool
	}{
		{"device", "ether", "eth0", 0, true},
		{"device", "ether", "end0", 0, true},
		{"device", "ether", "wlan0", 0, false},
		{"device", "ether", "wlp2s0", 0, false},
		{"device", "ether", "docker0", 0, false},
		{"veth", "ether", "veth9", 0, false},
		{"device", "ether", "enx0", 0, false}, // no device directory: virtual
		{"device", "loopback", "lo", net.FlagLoopback, false},
		{"device", "none", "wwan0", 0, false},
	} {
		if got := wired(root, tc.typ, tc.encap, tc.name, tc.flags); got != tc.want {
			t.Errorf("%s (%s/%s): wired=%v, want %v", tc.name, tc.typ, tc.encap, got, tc.want)
		}
	}
}

package board

import (
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestPiConfig loads board/rpi/pxe-edge.json through the real configuration code and checks it
// validates (with the netboot dir pointed somewhere that exists) and means what the Pi notes
// say: eth0, 192.168.77.1/24, automatic DHCP mode, TFTP + HTTP + iPXE.
func TestPiConfig(t *testing.T) {
	path := filepath.Join(netlab.ModuleRoot(t), "board/rpi/pxe-edge.json")
	res, err := config.Parse([]string{"--config", path, "--netboot-dir", t.TempDir()})
	if err != nil {
		t.Fatalf("board/rpi/pxe-edge.json does not validate: %v", err)
	}
	c := res.Config
	if c.Iface != "eth0" || c.Prefix().String() != "192.168.77.1/24" || c.Mode() != config.DHCPAuto ||
		!c.UseTFTP || !c.UseHTTP || !c.UseIPXE || c.HTTPPort != 80 || c.TFTPPort != 69 ||
		c.StateDir != "/var/lib/pxe-edge" || c.DHCPRouter.IsValid() || len(c.DHCPDNS) != 0 {
		t.Errorf("unexpected Pi defaults: iface %q prefix %v mode %v tftp %v http %v ipxe %v ports %d/%d state %q router %v dns %v",
			c.Iface, c.Prefix(), c.Mode(), c.UseTFTP, c.UseHTTP, c.UseIPXE, c.HTTPPort, c.TFTPPort, c.StateDir, c.DHCPRouter, c.DHCPDNS)
	}
	// The file itself names the netboot dir the unit and install script use.
	raw, err := config.Parse([]string{"--config", path, "--dump-config-merged"})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Config.NetbootDir != "/srv/pxe-edge/netboot" {
		t.Errorf("NETBOOT_DIR = %q, want /srv/pxe-edge/netboot", raw.Config.NetbootDir)
	}
}

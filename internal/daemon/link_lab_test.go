package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// DHCP without --iface picks a wired interface; a namespace holding only veth links has
// none, and the start fails naming the fix.
func TestNoWiredInterface(t *testing.T) {
	lb := newLab(t, "10.60.10.2/24", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lb.srv.Run(ctx, binary(t), "-a", t.TempDir(), "--dhcp-proxy", "-s", "10.60.10.2")
	if exitCode(err) != 1 || !strings.Contains(string(out), "no wired Ethernet interface found; name one with --iface") {
		t.Fatalf("want exit 1 naming --iface, got %v:\n%s", err, out)
	}
}

// With the cable out at start pxe-edge says it waits for one, answers nothing, and starts
// DHCP when the carrier comes.
func TestWaitsForCable(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	lb.cli.MustRun("ip", "link", "set", "eth0", "down")
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.11.2",
		"-b", "10.60.11.100", "-e", "10.60.11.150", "--state-dir", t.TempDir())
	waitFor(t, p, "waiting for a cable")
	if strings.Contains(p.Output(), "DHCP answering") {
		t.Fatalf("DHCP must not answer without a carrier:\n%s", p.Output())
	}
	lb.cli.MustRun("ip", "link", "set", "eth0", "up")
	waitFor(t, p, "DHCP answering")
	if _, err := udhcpc(t, lb.cli); err != nil {
		t.Fatal(err)
	}
	stopOK(t, p)
}

// --save-leases keeps PyPXE's lease file: written at exit ({"MAC": {"ip", "expire"}}), and
// read at start, so a client keeps its address across a move from PyPXE (new state dir).
func TestSaveLeasesPyPXEFile(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	const mac = "52:54:00:60:12:01"
	lb.cli.MustRun("ip", "link", "set", "eth0", "address", mac)
	dir, _ := netbootDir(t, "pxelinux.0", 100)
	leases := filepath.Join(t.TempDir(), "leases.json")
	args := []string{"-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.12.2", "-b", "10.60.12.100", "-e", "10.60.12.150", "--save-leases", leases}

	// A PyPXE file from before: the client had .140.
	exp := time.Now().Add(time.Hour).Unix()
	os.WriteFile(leases, []byte(`{"52:54:00:60:12:01": {"ip": "10.60.12.140", "expire": `+itoa64(exp)+`, "ipxe": false}}`), 0o644)
	p := lb.srv.Start(append([]string{binary(t)}, append(args, "--state-dir", t.TempDir())...)...)
	waitFor(t, p, "DHCP answering")
	waitFor(t, p, "imported PyPXE leases")
	ip, err := udhcpc(t, lb.cli)
	if err != nil || ip != "10.60.12.140" {
		t.Fatalf("imported lease: got %q %v\n%s", ip, err, p.Output())
	}
	stopOK(t, p)
	b, err := os.ReadFile(leases)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		IP     string  `json:"ip"`
		Expire float64 `json:"expire"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if e, ok := m[strings.ToUpper(mac)]; !ok || e.IP != "10.60.12.140" || e.Expire < float64(time.Now().Unix()) {
		t.Fatalf("saved lease file: %s", b)
	}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A PyPXE JSON configuration drives the real binary, and a flag on the command line wins
// over the file: the pool starts where -b says.
func TestPyPXEConfigFile(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "tftp")
	lb := newLab(t, "", "")
	dir, sum := netbootDir(t, "pxelinux.0", 3000)
	cfg := filepath.Join(t.TempDir(), "pypxe.json")
	os.WriteFile(cfg, []byte(`{
    "NETBOOT_DIR": "`+dir+`",
    "NETBOOT_FILE": "",
    "DHCP_SERVER_IP": "10.60.14.2",
    "DHCP_SERVER_PORT": 67,
    "DHCP_OFFER_BEGIN": "10.60.14.100",
    "DHCP_OFFER_END": "10.60.14.150",
    "DHCP_SUBNET": "255.255.255.0",
    "DHCP_ROUTER": "10.60.14.1",
    "DHCP_DNS": "10.60.14.1",
    "DHCP_BROADCAST": "",
    "DHCP_FILESERVER": "10.60.14.2",
    "SYSLOG_SERVER": null,
    "SYSLOG_PORT": 514,
    "USE_IPXE": false,
    "USE_HTTP": false,
    "USE_TFTP": true,
    "USE_DHCP": true,
    "DHCP_MODE_PROXY": false,
    "NBD_BLOCK_DEVICE": "",
    "NBD_WRITE": false,
    "NBD_COW": true,
    "NBD_COW_IN_MEM": false,
    "NBD_COPY_TO_RAM": false,
    "NBD_SERVER_IP": "0.0.0.0",
    "NBD_SERVER_PORT": 10809,
    "MODE_DEBUG": "",
    "MODE_VERBOSE": "",
    "IFACE": "eth0",
    "STATE_DIR": "`+t.TempDir()+`"
}`), 0o644)
	p := lb.srv.Start(binary(t), "--config", cfg, "-b", "10.60.14.140")
	waitFor(t, p, "DHCP answering")
	ip, err := udhcpc(t, lb.cli)
	if err != nil || !strings.HasPrefix(ip, "10.60.14.14") && ip != "10.60.14.150" {
		t.Fatalf("lease %q %v: want one from -b 10.60.14.140 on, not the file's .100\n%s", ip, err, p.Output())
	}
	lb.cli.MustRun("ip", "addr", "add", ip+"/24", "dev", "eth0")
	if got, err := tftpGet(t, lb.cli, "10.60.14.2", "pxelinux.0"); err != nil || got != sum {
		t.Fatalf("tftp: %v", err)
	}
	stopOK(t, p)
}

package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// --dhcp-auto beside another DHCP server (dnsmasq) serves ProxyDHCP and hands out no
// address; when that server is gone and the cable comes back, detection runs again and
// pxe-edge takes over as the full server.
func TestAutoModeFollowsOtherServer(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "dnsmasq")
	x := newSwitchLab(t, "10.60.6.3/24")
	sw, srv, cli, oth := x.sw, x.srv, x.cli, x.oth
	tmp := t.TempDir()
	dns := startDnsmasq(t, oth, tmp, "dnsmasq", "10.60.6.200", "10.60.6.250")
	time.Sleep(300 * time.Millisecond)

	dir, _ := netbootDir(t, "pxelinux.0", 1000)
	p := srv.Start(binary(t), "-a", dir, "--dhcp-auto", "--iface", "eth0", "-s", "10.60.6.2",
		"-b", "10.60.6.100", "-e", "10.60.6.150", "-r", "", "-d", "", "-f", "10.60.6.2", "--state-dir", filepath.Join(tmp, "state"))
	waitFor(t, p, "mode=auto→proxy")
	ip, err := udhcpc(t, cli)
	if err != nil || !strings.HasPrefix(ip, "10.60.6.2") || len(ip) != len("10.60.6.200") {
		t.Fatalf("beside dnsmasq the lease must come from dnsmasq's range: %q %v\n%s", ip, err, p.Output())
	}

	dns.Kill()
	sw.MustRun("ip", "link", "set", "psrv", "down")
	waitFor(t, p, "carrier lost: DHCP paused")
	sw.MustRun("ip", "link", "set", "psrv", "up")
	waitFor(t, p, "mode=auto→full")
	cli.MustRun("ip", "addr", "flush", "dev", "eth0")
	ip, err = udhcpc(t, cli)
	if err != nil || !strings.HasPrefix(ip, "10.60.6.1") {
		t.Fatalf("alone on the link pxe-edge must hand out its pool: %q %v\n%s", ip, err, p.Output())
	}

	// dnsmasq comes back while the cable stays in: once the rogue watch has seen it answer
	// (a client asking for broadcast replies, -B) for a while, auto mode steps back to
	// ProxyDHCP. One exchange (its OFFER and ACK) is not enough: a spoofed packet must not
	// turn the address service off.
	startDnsmasq(t, oth, tmp, "dnsmasq2", "10.60.6.200", "10.60.6.250")
	time.Sleep(300 * time.Millisecond)
	const switched = "another DHCP server appeared on the link; switching to ProxyDHCP"
	cli.MustRun("ip", "addr", "flush", "dev", "eth0")
	cli.MustRun("ip", "link", "set", "eth0", "address", "52:54:00:60:06:02")
	_, _ = udhcpc(t, cli, "-B")
	time.Sleep(5 * time.Second) // two rogue checks
	if strings.Contains(p.Output(), switched) {
		t.Fatalf("one exchange with another server switched auto mode to proxy:\n%s", p.Output())
	}
	for i := 0; i < 20 && !strings.Contains(p.Output(), switched); i++ {
		cli.MustRun("ip", "addr", "flush", "dev", "eth0")
		_, _ = udhcpc(t, cli, "-B")
		time.Sleep(time.Second)
	}
	waitFor(t, p, switched)
	stopOK(t, p)
}

// --http serves the netboot directory and the status API (pkg/http) with the daemon's view
// of DHCP: mode, interface, carrier and the lease a client just got.
func TestHTTPStatusFromDaemon(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "curl")
	lb := newLab(t, "", "")
	lb.cli.MustRun("ip", "link", "set", "eth0", "address", "52:54:00:60:07:01")
	dir, _ := netbootDir(t, "boot.ipxe", 2000)
	os.WriteFile(filepath.Join(dir, "facts.ipxe.tmpl"), []byte("#!ipxe\n{{.MAC}} {{.IP}} {{.Platform}} {{.BuildArch}} {{.UUID}}\n"), 0o644)
	p := lb.srv.Start(binary(t), "-a", dir, "--http", "--http-port", "8080", "--dhcp", "--iface", "eth0",
		"-s", "10.60.7.2", "-b", "10.60.7.100", "-e", "10.60.7.150", "-r", "10.60.7.1", "-f", "10.60.7.2",
		"--state-dir", t.TempDir())
	waitFor(t, p, "msg=\"DHCP answering\"")
	// Look like x64 UEFI PXE firmware with a machine UUID (options 60, 93, 94, 97).
	ip, err := udhcpc(t, lb.cli, "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007", "-x", "0x5e:010300",
		"-x", "0x61:00112233445566778899aabbccddeeff00")
	if err != nil {
		t.Fatal(err)
	}
	lb.cli.MustRun("ip", "addr", "add", ip+"/24", "dev", "eth0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lb.cli.Run(ctx, "curl", "-sf", "--max-time", "5", "http://10.60.7.2:8080/api/status")
	if err != nil {
		t.Fatalf("status API: %v\n%s\n%s", err, out, p.Output())
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out)
	}
	body := string(out)
	for _, want := range []string{`"full"`, `"eth0"`, ip, "52:54:00:60:07:01", `"uefi-x64"`} {
		if !strings.Contains(body, want) {
			t.Errorf("status lacks %s:\n%s", want, body)
		}
	}
	// The lease took at least a DISCOVER and a REQUEST, counted by type in the status too.
	recv, _ := st["dhcp_received"].(map[string]any)
	for _, typ := range []string{"DISCOVER", "REQUEST"} {
		if n, _ := recv[typ].(float64); n < 1 {
			t.Errorf("status dhcp_received lacks %s: %v", typ, st["dhcp_received"])
		}
	}
	if out, err := lb.cli.Run(ctx, "curl", "-sf", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://10.60.7.2:8080/boot.ipxe"); err != nil || string(out) != "200" {
		t.Errorf("file over HTTP: %v %s", err, out)
	}
	// /metrics counts the requests by DHCP message type (dhcpd's Stats.ByType): the lease
	// took at least a DISCOVER and a REQUEST.
	out, err = lb.cli.Run(ctx, "curl", "-sf", "--max-time", "5", "http://10.60.7.2:8080/metrics")
	if err != nil {
		t.Fatalf("metrics: %v\n%s", err, out)
	}
	for _, typ := range []string{"DISCOVER", "REQUEST"} {
		m := regexp.MustCompile(`(?m)^pxe_edge_dhcp_received_total\{type="` + typ + `"\} (\d+)$`).FindSubmatch(out)
		if m == nil || string(m[1]) == "0" {
			t.Errorf("metrics: no %s count after a lease:\n%s", typ, out)
		}
	}
	// A per-client script sees what the client's DHCP requests told the daemon.
	out, err = lb.cli.Run(ctx, "curl", "-sf", "--max-time", "5", "http://10.60.7.2:8080/facts.ipxe")
	want := "#!ipxe\n52:54:00:60:07:01 " + ip + " efi x86_64 11223344-5566-7788-99aa-bbccddeeff00\n"
	if err != nil || string(out) != want {
		t.Errorf("script facts: %v\n got %q\nwant %q", err, out, want)
	}
	// A figure, not an assertion: memory of the whole daemon (TFTP, HTTP, full DHCP with
	// its lease store) after serving a lease, a status request and a file.
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid(t, p)) + "/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
				t.Logf("pxe-edge %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	stopOK(t, p)
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := netlab.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TFTP serves per-client roots (pkg/bootfs) keyed by the MAC the daemon's lease table holds
// for the requesting address: the client with a lease gets 01-<mac>/hello.txt, the root copy
// is everyone else's.
func TestPerClientRootFromLease(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "tftp")
	lb := newLab(t, "", "")
	lb.cli.MustRun("ip", "link", "set", "eth0", "address", "52:54:00:60:08:01")
	dir, rootSum := netbootDir(t, "hello.txt", 5000)
	own := filepath.Join(dir, "01-52-54-00-60-08-01")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(own, "hello.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mineSum := fmt.Sprintf("%x", sha256.Sum256([]byte("mine\n")))
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.8.2",
		"-b", "10.60.8.100", "-e", "10.60.8.150", "-f", "10.60.8.2", "--state-dir", t.TempDir())
	waitFor(t, p, "msg=\"DHCP answering\"")
	ip, err := udhcpc(t, lb.cli)
	if err != nil {
		t.Fatal(err)
	}
	lb.cli.MustRun("ip", "addr", "add", ip+"/24", "dev", "eth0")
	if got, err := tftpGet(t, lb.cli, "10.60.8.2", "hello.txt"); err != nil || got != mineSum {
		t.Errorf("leased client: got %s %v, want its own copy", got, err)
	}
	lb.cli.MustRun("ip", "addr", "del", ip+"/24", "dev", "eth0")
	lb.cli.MustRun("ip", "addr", "add", "10.60.8.99/24", "dev", "eth0")
	if got, err := tftpGet(t, lb.cli, "10.60.8.2", "hello.txt"); err != nil || got != rootSum {
		t.Errorf("address without a lease: got %s %v, want the root copy", got, err)
	}
	stopOK(t, p)
}

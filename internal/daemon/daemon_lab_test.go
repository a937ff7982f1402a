package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// PyPXE's default: `pxe-edge --netboot-dir DIR` serves TFTP only, on 0.0.0.0:69, touches no
// interface and opens no DHCP socket. tftp-hpa fetches a file across the veth pair.
func TestTFTPOnlyByDefault(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "10.60.1.2/24", "10.60.1.50/24")
	dir, sum := netbootDir(t, "pxelinux.0", 300_000)
	p := lb.srv.Start(binary(t), "--netboot-dir", dir)
	waitFor(t, p, "msg=serving")
	got, err := tftpGet(t, lb.cli, "10.60.1.2", "pxelinux.0")
	if err != nil || got != sum {
		t.Fatalf("tftp get: %v (sha256 %s, want %s)", err, got, sum)
	}
	ports := udpPorts(t, lb.srv)
	if !ports[69] {
		t.Errorf("no TFTP socket on port 69: %v", ports)
	}
	if ports[67] || ports[4011] {
		t.Errorf("a DHCP socket is open although no --dhcp flag was given: %v", ports)
	}
	if !hasAddr(t, lb.srv, "10.60.1.2/24") || strings.Contains(p.Output(), "address added") {
		t.Errorf("TFTP-only mode without --iface must not touch the interface")
	}
	stopOK(t, p)
}

// With --iface, the server address is added when missing and removed at exit; an address
// the administrator configured stays. SIGTERM exits 0.
func TestAddressAddedAndRemoved(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "", "10.60.2.50/24")
	lb.srv.MustRun("ip", "link", "set", "eth0", "down")
	dir, sum := netbootDir(t, "boot.bin", 4096)
	bin := binary(t)

	p := lb.srv.Start(bin, "-a", dir, "--iface", "eth0", "-s", "10.60.2.2", "-n", "255.255.255.0")
	waitFor(t, p, "msg=serving")
	if !hasAddr(t, lb.srv, "10.60.2.2/24") {
		t.Fatalf("server address not added:\n%s", lb.srv.MustRun("ip", "addr"))
	}
	if got, err := tftpGet(t, lb.cli, "10.60.2.2", "boot.bin"); err != nil || got != sum {
		t.Fatalf("tftp get: %v", err)
	}
	stopOK(t, p)
	if hasAddr(t, lb.srv, "10.60.2.2/24") {
		t.Fatalf("the address we added is still there after exit")
	}

	lb.srv.MustRun("ip", "addr", "add", "10.60.2.2/24", "dev", "eth0")
	p = lb.srv.Start(bin, "-a", dir, "--iface", "eth0", "-s", "10.60.2.2")
	waitFor(t, p, "msg=serving")
	waitFor(t, p, "already on the interface")
	stopOK(t, p)
	if !hasAddr(t, lb.srv, "10.60.2.2/24") {
		t.Fatalf("the administrator's address was removed at exit")
	}
}

// Started as nobody with only CAP_NET_RAW, CAP_NET_BIND_SERVICE and CAP_NET_ADMIN (ambient,
// via setpriv) it adds its address, binds port 69 and serves a file. Without capabilities
// it refuses to start and names the missing one.
func TestCapabilitiesOnly(t *testing.T) {
	netlab.RequireCommands(t, "tftp", "setpriv", "busybox")
	lb := newLab(t, "", "10.60.3.50/24")
	dir, sum := netbootDir(t, "pxelinux.0", 70_000)
	bin := binary(t)
	binDir := filepath.Dir(bin)
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(binDir, "state") // a directory nobody may write, like systemd's StateDirectory
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(state)
	caps := "+net_raw,+net_bind_service,+net_admin"
	p := lb.srv.Start("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps="+caps, "--ambient-caps="+caps, "--",
		bin, "-a", dir, "--iface", "eth0", "-s", "10.60.3.2", "--dhcp", "-b", "10.60.3.100", "-e", "10.60.3.150", "--state-dir", state)
	waitFor(t, p, "msg=serving")
	waitFor(t, p, "DHCP answering")
	if got, err := tftpGet(t, lb.cli, "10.60.3.2", "pxelinux.0"); err != nil || got != sum {
		t.Fatalf("tftp get from the capability-only server: %v\n%s", err, p.Output())
	}
	lb.cli.MustRun("ip", "addr", "flush", "dev", "eth0")
	if ip, err := udhcpc(t, lb.cli); err != nil || !strings.HasPrefix(ip, "10.60.3.1") {
		t.Fatalf("DHCP lease from the capability-only server: %q %v\n%s", ip, err, p.Output())
	}
	stopOK(t, p)
	if hasAddr(t, lb.srv, "10.60.3.2/24") {
		t.Error("address not removed at exit by the capability-only server")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lb.srv.Run(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		"--", bin, "-a", dir, "--iface", "eth0", "-s", "10.60.3.2")
	code := exitCode(err)
	if err == nil || code != 1 || !strings.Contains(string(out), "missing capability CAP_NET_BIND_SERVICE") {
		t.Fatalf("without capabilities: want exit 1 naming CAP_NET_BIND_SERVICE, got %v (code %d):\n%s", err, code, out)
	}
	// TFTP on an unprivileged port needs no capability, but adding the address does.
	out, err = lb.srv.Run(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		"--", bin, "-a", dir, "--iface", "eth0", "-s", "10.60.3.2", "--tftp-port", "6969")
	if err == nil || !strings.Contains(string(out), "missing capability CAP_NET_ADMIN") {
		t.Fatalf("without CAP_NET_ADMIN: want an error naming it, got %v:\n%s", err, out)
	}
}

// Bad configuration exits with status 2 and names the setting, before touching anything.
func TestBadConfigExit2(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--dhcp", "-a", dir, "-b", "10.0.0.1"},
		{"--nbd", "/dev/sda", "-a", dir},
		{"--bogus"},
	} {
		cmd := netlabCmd(ctx, bin, args...)
		out, err := cmd.CombinedOutput()
		if exitCode(err) != 2 {
			t.Errorf("%v: want exit status 2, got %v:\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "bad configuration") {
			t.Errorf("%v: %s", args, out)
		}
	}
	out, err := netlabCmd(ctx, bin, "--version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^pxe-edge \S+\n$`).Match(out) {
		t.Errorf("--version: %v %q", err, out)
	}
}

// Pull the cable (the peer goes down) and plug it back 20 times: DHCP pauses and resumes each
// time, a client gets a lease after each return, and neither descriptors nor goroutines
// leak.
func TestCarrierFlapDHCP(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	lb.cli.MustRun("ip", "link", "set", "eth0", "address", "52:54:00:60:04:01")
	dir, _ := netbootDir(t, "pxelinux.0", 1000)
	state := t.TempDir()
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.4.2",
		"-b", "10.60.4.100", "-e", "10.60.4.150", "-r", "10.60.4.1", "-f", "10.60.4.2",
		"--state-dir", state, "--debug", "link")
	waitFor(t, p, "msg=serving")
	waitCount(t, p, "msg=\"DHCP answering\"", 1)
	if ip, err := udhcpc(t, lb.cli); err != nil {
		t.Fatalf("first lease: %v\n%s", err, p.Output())
	} else if !strings.HasPrefix(ip, "10.60.4.") {
		t.Fatalf("lease %s outside the pool", ip)
	}
	pidN := pid(t, p)
	// The snapshot after a pause is the steady state: the serve loop and its socket are gone,
	// so every cycle must come back to the same counts.
	runtimeRE := regexp.MustCompile(`msg=runtime .*when="link down" goroutines=(\d+) fds=(\d+)`)
	var fds0, gor0, procFDs0, g, f, pf int
	const cycles = 20
	for i := 1; i <= cycles; i++ {
		lb.cli.MustRun("ip", "link", "set", "eth0", "down")
		waitCount(t, p, "carrier lost: DHCP paused", i)
		if i == 5 {
			// Someone removes the address while the cable is out: it comes back with the cable.
			lb.srv.MustRun("ip", "addr", "flush", "dev", "eth0")
		}
		lb.cli.MustRun("ip", "link", "set", "eth0", "up")
		waitCount(t, p, "msg=\"DHCP answering\"", i+1)
		if !hasAddr(t, lb.srv, "10.60.4.2/24") {
			t.Fatalf("cycle %d: server address not restored after the carrier came back", i)
		}
		ip, err := udhcpc(t, lb.cli)
		if err != nil {
			t.Fatalf("cycle %d: no lease after the cable came back: %v\n%s", i, err, p.Output())
		}
		if !strings.HasPrefix(ip, "10.60.4.") {
			t.Fatalf("cycle %d: lease %s", i, ip)
		}
		m := runtimeRE.FindAllStringSubmatch(p.Output(), -1)
		if len(m) < i {
			t.Fatalf("cycle %d: no runtime line", i)
		}
		g, _ = strconv.Atoi(m[len(m)-1][1])
		f, _ = strconv.Atoi(m[len(m)-1][2])
		pf = fdCount(t, pidN)
		if i == 2 {
			fds0, gor0, procFDs0 = f, g, pf
		}
		// A goroutine may be between two states (a lease-store flush); descriptors must match.
		if i > 2 && (f > fds0 || pf > procFDs0 || g > gor0+1) {
			t.Errorf("cycle %d: goroutines %d, fds %d (/proc: %d); after cycle 2: %d, %d (/proc: %d): leak", i, g, f, pf, gor0, fds0, procFDs0)
		}
	}
	t.Logf("carrier cycles %d: after cycle 2 goroutines=%d fds=%d /proc fds=%d; after cycle %d goroutines=%d fds=%d /proc fds=%d",
		cycles, gor0, fds0, procFDs0, cycles, g, f, pf)
	stopOK(t, p)
	if !strings.Contains(p.Output(), "leases flushed") {
		t.Errorf("leases not flushed at exit:\n%s", p.Output())
	}
}

// SIGHUP reloads the static reservations without a restart: the client's reserved address
// changes, and TFTP keeps serving.
func TestSIGHUPReloadsReservations(t *testing.T) {
	netlab.RequireCommands(t, "busybox", "tftp")
	lb := newLab(t, "", "")
	const mac = "52:54:00:60:05:01"
	lb.cli.MustRun("ip", "link", "set", "eth0", "address", mac)
	dir, sum := netbootDir(t, "pxelinux.0", 100_000)
	static := filepath.Join(t.TempDir(), "static.json")
	writeStatic := func(ip string) {
		body := `{"dhcp": {"binding": {"` + strings.ToUpper(mac) + `": {"ipaddr": "` + ip + `", "subnet": "255.255.255.0", "router": "10.60.5.1", "dns": ["10.60.5.1"]}}}}`
		if err := os.WriteFile(static, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeStatic("10.60.5.20")
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.5.2",
		"-b", "10.60.5.100", "-e", "10.60.5.150", "-r", "10.60.5.1", "-f", "10.60.5.2",
		"--state-dir", t.TempDir(), "--static-config", static)
	waitCount(t, p, "msg=\"DHCP answering\"", 1)
	if ip, err := udhcpc(t, lb.cli); err != nil || ip != "10.60.5.20" {
		t.Fatalf("reserved lease: got %q, %v\n%s", ip, err, p.Output())
	}
	writeStatic("10.60.5.21")
	p.Signal(syscall.SIGHUP)
	waitFor(t, p, "static reservations reloaded")
	if ip, err := udhcpc(t, lb.cli); err != nil || ip != "10.60.5.21" {
		t.Fatalf("after SIGHUP: got %q, %v\n%s", ip, err, p.Output())
	}
	lb.cli.MustRun("ip", "addr", "add", "10.60.5.21/24", "dev", "eth0")
	if got, err := tftpGet(t, lb.cli, "10.60.5.2", "pxelinux.0"); err != nil || got != sum {
		t.Fatalf("TFTP after SIGHUP: %v", err)
	}
	stopOK(t, p)
}

package daemon_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// These tests run the real binary (netlab.Binary) inside namespaces the test creates, with
// real clients (tftp-hpa, busybox udhcpc). Subnets: 10.60.0.0/16 (config/daemon/netif).

// lab is a server namespace and a client namespace joined by a veth pair; the server end
// ("eth0") has no address: pxe-edge adds it, unless addr is given.
type lab struct {
	l        *netlab.Lab
	srv, cli *netlab.NS
}

func newLab(t *testing.T, srvCIDR, cliCIDR string) *lab {
	t.Helper()
	l := netlab.New(t)
	lb := &lab{l: l, srv: l.Namespace("srv"), cli: l.Namespace("cli")}
	l.Veth(lb.srv, "eth0", srvCIDR, lb.cli, "eth0", cliCIDR)
	return lb
}

// switchLab is three hosts on one bridge in a switch namespace: srv (pxe-edge, eth0 without
// an address), cli (a client) and oth (another DHCP server, eth0 at othCIDR). Bridge ports
// are sw's p<host> ends, so a test can pull or re-create one host's cable.
type switchLab struct {
	l                 *netlab.Lab
	sw, srv, cli, oth *netlab.NS
}

func newSwitchLab(t *testing.T, othCIDR string) *switchLab {
	t.Helper()
	l := netlab.New(t)
	x := &switchLab{l: l, sw: l.Namespace("sw"), srv: l.Namespace("srv"), cli: l.Namespace("cli"), oth: l.Namespace("oth")}
	x.sw.Bridge("br0", "")
	l.Veth(x.sw, "psrv", "", x.srv, "eth0", "")
	l.Veth(x.sw, "pcli", "", x.cli, "eth0", "")
	l.Veth(x.sw, "poth", "", x.oth, "eth0", othCIDR)
	for _, p := range []string{"psrv", "pcli", "poth"} {
		x.sw.AttachToBridge(p, "br0")
	}
	return x
}

// startDnsmasq runs dnsmasq in ns as a DHCP server on eth0 handing out first..last (/24),
// its lease and pid files named after tag in dir.
func startDnsmasq(t *testing.T, ns *netlab.NS, dir, tag, first, last string) *netlab.Proc {
	t.Helper()
	return ns.Start(lookPath(t, "dnsmasq"), "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=eth0", "--bind-interfaces", "--dhcp-range="+first+","+last+",255.255.255.0,1h", "--no-ping",
		"--dhcp-leasefile="+filepath.Join(dir, tag+".leases"), "--pid-file="+filepath.Join(dir, tag+".pid"))
}

// netbootDir makes a world-readable netboot directory (also for runs as nobody) holding
// name with size random bytes, and returns the directory and the file's sha256.
func netbootDir(t *testing.T, name string, size int) (string, string) {
	t.Helper()
	base, err := os.MkdirTemp("", "pxe-edge-netboot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	_, _ = rand.Read(b)
	if err := os.WriteFile(filepath.Join(base, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base, hex.EncodeToString(sum[:])
}

// tftpGet fetches name from server with tftp-hpa inside ns and returns its sha256.
func tftpGet(t *testing.T, ns *netlab.NS, server, name string) (string, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "got")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, "tftp", "-m", "binary", server, "-c", "get", name, dst)
	if err != nil {
		return "", err
	}
	if strings.Contains(string(out), "Error") || strings.Contains(string(out), "Transfer timed out") {
		return "", &tftpErr{string(out)}
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

type tftpErr struct{ out string }

func (e *tftpErr) Error() string { return "tftp: " + e.out }

func waitFor(t *testing.T, p *netlab.Proc, substr string) {
	t.Helper()
	if !p.WaitOutput(substr, 15*time.Second) {
		t.Fatalf("pxe-edge did not log %q; output:\n%s", substr, p.Output())
	}
}

// waitCount waits until substr occurs at least n times in the output.
func waitCount(t *testing.T, p *netlab.Proc, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.Output(), substr) >= n {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("pxe-edge exited waiting for %q ×%d: %v\n%s", substr, n, p.Err(), p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("pxe-edge did not log %q %d times; output:\n%s", substr, n, p.Output())
}

func stopOK(t *testing.T, p *netlab.Proc) {
	t.Helper()
	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: want exit status 0, got %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.Output())
	}
}

func hasAddr(t *testing.T, ns *netlab.NS, cidr string) bool {
	t.Helper()
	return strings.Contains(ns.MustRun("ip", "-4", "-o", "addr", "show", "dev", "eth0"), " "+cidr+" ")
}

// udpPorts lists the UDP ports with a socket in ns (from /proc/net/udp, as seen there).
func udpPorts(t *testing.T, ns *netlab.NS) map[int]bool {
	t.Helper()
	out := ns.MustRun("cat", "/proc/net/udp")
	ports := map[int]bool{}
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		if n, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
			ports[int(n)] = true
		}
	}
	return ports
}

var leaseRE = regexp.MustCompile(`lease of (\d+\.\d+\.\d+\.\d+) obtained`)

// udhcpc asks for a lease from ns with busybox udhcpc (bounded: 4 tries, 1 s apart, then
// give up) and returns the address it got.
func udhcpc(t *testing.T, ns *netlab.NS, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "1", "-A", "1", "-s", "/bin/true"}, extra...)
	out, err := ns.Run(ctx, args...)
	if err != nil {
		return "", err
	}
	m := leaseRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", &tftpErr{"udhcpc: no lease: " + string(out)}
	}
	return m[1], nil
}

func pid(t *testing.T, p *netlab.Proc) int {
	t.Helper()
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("no pid in the start line:\n%s", p.Output())
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// netlabCmd runs the binary directly; only for invocations that exit before opening any
// socket (--version, bad configuration).
func netlabCmd(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, args...)
}

// exitCode digs the exit status out of a (possibly wrapped) *exec.ExitError; -1 if none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// binary returns the pxe-edge executable under test: $PXE_EDGE_BIN when set (e.g. a -race
// build: `go build -race -o /tmp/pxe-edge-race ./cmd/pxe-edge`), else netlab's build.
func binary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PXE_EDGE_BIN"); p != "" {
		return p
	}
	return netlab.Binary(t)
}

// getURL fetches url with curl from ns and returns the body; any failure fails the test.
func getURL(t *testing.T, ns *netlab.NS, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, "curl", "-sf", "--max-time", "5", url)
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, out)
	}
	return string(out)
}

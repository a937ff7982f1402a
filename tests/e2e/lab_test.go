package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// guestTimeout bounds one guest's boot from power-on to the marker. The slowest paths (OVMF
// PXE → ipxe.efi → iPXE's own DHCP and ~13 s IPv6 router wait → HTTP) take 30–40 s under
// TCG on an idle 2-core machine, and were seen at 91 s with a load average of 9 from other
// test runs; CI runs other packages beside this one.
const guestTimeout = 180 * time.Second

var update = flag.Bool("update", false, "rewrite testdata/*.pcap with the traces captured by this run")

// env is one scenario's lab: a server namespace with bridge br0 holding the server address
// (and a veth port so that the bridge has a carrier before any guest starts), the netboot
// directory and pxe-edge's state directory.
type env struct {
	t     *testing.T
	lab   *netlab.Lab
	srv   *netlab.NS
	net   string // "10.70.N"
	dir   string // netboot directory served
	state string
	pxe   *netlab.Proc
	taps  int
}

// newEnv builds the lab for subnet 10.70.n.0/24 and a netboot directory prepared like
// `make netboot` does it.
func newEnv(t *testing.T, n int) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: end-to-end boots of real firmware take minutes")
	}
	l := netlab.New(t)
	e := &env{t: t, lab: l, net: fmt.Sprintf("10.70.%d", n)}
	e.srv = l.Namespace("srv")
	e.srv.Bridge("br0", e.ServerIP()+"/24")
	// A veth pair inside srv: one end on the bridge, the other end up, so br0 has a carrier
	// (and pxe-edge serves) before the first guest's tap comes up.
	e.srv.MustRun("ip", "link", "add", "carrier0", "type", "veth", "peer", "name", "carrier1")
	e.srv.MustRun("ip", "link", "set", "carrier1", "up")
	e.srv.AttachToBridge("carrier0", "br0")
	e.dir = netbootDir(t)
	e.state = t.TempDir()
	return e
}

// ServerIP is pxe-edge's address on br0.
func (e *env) ServerIP() string { return e.net + ".1" }

// netbootDir copies the repository's netboot/ text files into a temporary directory and
// runs scripts/netboot.sh into it for the binaries, as `make netboot` does for netboot/.
func netbootDir(t *testing.T) string {
	t.Helper()
	root := netlab.ModuleRoot(t)
	dir, err := os.MkdirTemp("", "pxe-edge-e2e-netboot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "netboot")
	for _, name := range []string{"boot.ipxe", "boot.http.ipxe", "README.md", "pxelinux.cfg/default", "hosts/README", "grub/grub.cfg"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "netboot.sh"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		netlab.Missing(t, "scripts/netboot.sh could not fill the netboot directory: %v\n%s", err, out)
	}
	return dir
}

// writeFile writes b to path, creating parent directories, world-readable.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serverBinary is the pxe-edge under test: $PXE_EDGE_BIN (e.g. a -race build) or netlab's build.
func serverBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PXE_EDGE_BIN"); p != "" {
		return p
	}
	return netlab.Binary(t)
}

// startServer runs pxe-edge on br0 with the lab's pool and the extra flags, and waits until
// DHCP answers (after auto mode's detection, when given).
func (e *env) startServer(flags ...string) *netlab.Proc {
	e.t.Helper()
	argv := []string{serverBinary(e.t), "-a", e.dir, "--iface", "br0", "-s", e.ServerIP(), "-f", e.ServerIP(),
		"-b", e.net + ".100", "-e", e.net + ".150", "-r", "", "-d", "", "--state-dir", e.state, "--debug", "dhcp"}
	argv = append(argv, flags...)
	e.pxe = e.srv.Start(argv...)
	if !e.pxe.WaitOutput(`msg="DHCP answering"`, 30*time.Second) {
		e.t.Fatalf("pxe-edge did not start answering DHCP:\n%s", e.pxe.Output())
	}
	return e.pxe
}

// guest is a QEMU virtual machine on br0 whose serial console is its stdio.
type guest struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	out   netlab.SyncBuffer
	stdin io.WriteCloser
	done  chan struct{}
	start time.Time
}

// tap adds a tap port to br0 for the next guest and returns its name.
func (e *env) tap() string {
	e.taps++
	name := fmt.Sprintf("tap%d", e.taps)
	e.srv.Tap(name, "br0")
	return name
}

// startGuest starts argv (a QEMU command line) inside the server namespace, so that its tap
// is reachable. The guest is killed at cleanup at the latest; when the test failed its
// cleaned console is logged.
func (e *env) startGuest(name string, argv ...string) *guest {
	e.t.Helper()
	g := &guest{t: e.t, name: name, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout+60*time.Second)
	g.cmd = e.srv.Exec(ctx, argv...)
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var err error
	if g.stdin, err = g.cmd.StdinPipe(); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if serr := netlab.StartCmd(g.cmd); serr != nil {
		cancel()
		e.t.Fatalf("start %s: %v", name, serr)
	}
	g.start = time.Now()
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	e.t.Cleanup(func() {
		g.kill()
		cancel()
		if e.t.Failed() || os.Getenv("E2E_CONSOLE") != "" {
			e.t.Logf("console of %s (cleaned):\n%s", name, tail(g.Console(), 6000))
		}
	})
	return g
}

// kill ends the guest's process group and waits (bounded) for it.
func (g *guest) kill() {
	if g.cmd.Process != nil {
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
	}
}

// Console is the guest's serial output so far, without terminal escapes.
func (g *guest) Console() string { return netlab.CleanConsole(g.out.String()) }

// wait waits (bounded by timeout) until the console shows marker; it fails the test with the
// console otherwise. It returns the time since power-on.
func (g *guest) wait(marker string, timeout time.Duration) time.Duration {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(g.Console(), marker) {
			return time.Since(g.start)
		}
		select {
		case <-g.done:
			if strings.Contains(g.Console(), marker) {
				return time.Since(g.start)
			}
			g.t.Fatalf("%s exited before %q appeared:\n%s", g.name, marker, tail(g.Console(), 6000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s: no %q within %v; console:\n%s", g.name, marker, timeout, tail(g.Console(), 6000))
		}
	}
}

// typeLine types s and Enter on the guest's console.
func (g *guest) typeLine(s string) {
	g.t.Helper()
	if _, err := io.WriteString(g.stdin, s+"\n"); err != nil {
		g.t.Fatalf("%s: typing %q: %v", g.name, s, err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// waitRE waits (bounded) until the console matches re and returns the submatches; it fails
// the test with the console otherwise.
func (g *guest) waitRE(re *regexp.Regexp, timeout time.Duration) []string {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(g.Console()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s: no match for %q within %v; console:\n%s", g.name, re, timeout, tail(g.Console(), 6000))
		}
		select {
		case <-g.done:
			if m := re.FindStringSubmatch(g.Console()); m != nil {
				return m
			}
			g.t.Fatalf("%s exited before %q matched:\n%s", g.name, re, tail(g.Console(), 6000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitCount waits (bounded) until the console holds substr at least n times.
func (g *guest) waitCount(substr string, n int, timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(g.Console(), substr) < n {
		if time.Now().After(deadline) {
			g.t.Fatalf("%s: %q not seen %d times within %v; console:\n%s", g.name, substr, n, timeout, tail(g.Console(), 6000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

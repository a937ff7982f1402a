package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prefix starts the name of every namespace a lab creates, so that `make test` can sweep
// namespaces left behind by a test binary that was killed before its cleanup ran.
const Prefix = "pxet-"

// cmdTimeout bounds every set-up command; a hung `ip` must not hang the test run.
const cmdTimeout = 20 * time.Second

// Lab is one test's set of namespaces. Everything it creates is removed by t.Cleanup, also
// when the test fails.
type Lab struct {
	t      testing.TB
	id     string
	mu     sync.Mutex
	ns     []*NS
	nextIf int
}

// New returns an empty lab whose namespaces are deleted when the test ends. It skips (or fails
// in CI) unless the test runs as root with `ip` available.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, "ip")
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &Lab{t: t, id: hex.EncodeToString(b[:])}
	t.Cleanup(l.close)
	return l
}

// NS is one network namespace of a lab.
type NS struct {
	lab *Lab
	// Name is the namespace's name as `ip netns` knows it.
	Name string
}

// Namespace creates a namespace with loopback up. short names it within the lab ("srv",
// "cli"); the real name adds the lab's prefix and id and stays within Linux's 15-byte
// interface-name budget when reused for links.
func (l *Lab) Namespace(short string) *NS {
	l.t.Helper()
	name := Prefix + l.id + "-" + short
	if _, err := run(context.Background(), "ip", "netns", "add", name); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	n := &NS{lab: l, Name: name}
	l.mu.Lock()
	l.ns = append(l.ns, n)
	l.mu.Unlock()
	n.MustRun("ip", "link", "set", "lo", "up")
	return n
}

func (l *Lab) ifName(role string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextIf++
	// Interface names are at most 15 bytes: "v" + 6 hex + role letter + counter.
	return fmt.Sprintf("v%s%s%d", l.id, role, l.nextIf)
}

// Veth connects a and b with a veth pair. Each end is renamed inside its namespace to the
// given name (e.g. "eth0"), brought up, and, if its CIDR is not empty, given that address.
func (l *Lab) Veth(a *NS, aName, aCIDR string, b *NS, bName, bCIDR string) {
	l.t.Helper()
	ta, tb := l.ifName("a"), l.ifName("b")
	if _, err := run(context.Background(), "ip", "link", "add", ta, "type", "veth", "peer", "name", tb); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	for _, e := range []struct {
		tmp, name, cidr string
		ns              *NS
	}{{ta, aName, aCIDR, a}, {tb, bName, bCIDR, b}} {
		if _, err := run(context.Background(), "ip", "link", "set", e.tmp, "netns", e.ns.Name); err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
		e.ns.MustRun("ip", "link", "set", e.tmp, "name", e.name)
		if e.cidr != "" {
			e.ns.MustRun("ip", "addr", "add", e.cidr, "dev", e.name)
		}
		e.ns.MustRun("ip", "link", "set", e.name, "up")
	}
}

// Bridge creates a bridge named name inside ns and brings it up; attach ports with
// AttachToBridge. A bridge lets several client namespaces share one broadcast domain.
func (n *NS) Bridge(name, cidr string) {
	n.lab.t.Helper()
	n.MustRun("ip", "link", "add", name, "type", "bridge")
	// No STP or forwarding delay: ports forward as soon as they are up.
	n.MustRun("ip", "link", "set", name, "type", "bridge", "forward_delay", "0", "stp_state", "0")
	if cidr != "" {
		n.MustRun("ip", "addr", "add", cidr, "dev", name)
	}
	n.MustRun("ip", "link", "set", name, "up")
}

// AttachToBridge enslaves port (an interface in n) to bridge (also in n).
func (n *NS) AttachToBridge(port, bridge string) {
	n.lab.t.Helper()
	n.MustRun("ip", "link", "set", port, "master", bridge)
	n.MustRun("ip", "link", "set", port, "up")
}

// Netem applies a `tc qdisc … netem` discipline to dev inside n, e.g.
// Netem("eth0", "loss", "10%", "duplicate", "5%", "reorder", "25%", "delay", "2ms").
func (n *NS) Netem(dev string, args ...string) {
	n.lab.t.Helper()
	RequireCommands(n.lab.t, "tc")
	n.MustRun(append([]string{"tc", "qdisc", "replace", "dev", dev, "root", "netem"}, args...)...)
}

// Exec returns a command that runs argv inside the namespace. The caller owns it; prefer Run
// or Start, which bound and reap it.
func (n *NS) Exec(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Run runs argv inside the namespace with a timeout and returns its combined output.
func (n *NS) Run(ctx context.Context, argv ...string) ([]byte, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// MustRun is Run with a fatal error on failure and a default 20 s timeout.
func (n *NS) MustRun(argv ...string) string {
	n.lab.t.Helper()
	out, err := n.Run(context.Background(), argv...)
	if err != nil {
		n.lab.t.Fatalf("netlab: %v", err)
	}
	return string(out)
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child that daemonizes (dhcpcd, dnsmasq) keeps the output pipe open after the command
	// itself exits: stop waiting for the pipe shortly after the exit instead of hanging.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

func (l *Lab) close() {
	l.mu.Lock()
	ns := l.ns
	l.ns = nil
	l.mu.Unlock()
	for i := len(ns) - 1; i >= 0; i-- {
		killAll(ns[i].Name)
		if _, err := run(context.Background(), "ip", "netns", "del", ns[i].Name); err != nil {
			l.t.Logf("netlab: cleanup: %v", err)
		}
	}
}

// killAll kills every process still inside the namespace, so that `ip netns del` really frees
// it (a namespace lives on while a process holds it).
func killAll(name string) {
	out, _ := run(context.Background(), "ip", "netns", "pids", name)
	self := strconv.Itoa(os.Getpid())
	for _, f := range strings.Fields(string(out)) {
		// A thread of this very process may still sit in the namespace after Do; it goes
		// away with its goroutine and must not take the test binary with it.
		if f == self {
			continue
		}
		_, _ = run(context.Background(), "kill", "-9", f)
	}
}

// Sweep deletes namespaces left behind by earlier, killed test runs (names starting with
// Prefix). Only call it when no other test run is active, e.g. at the start of `make test`.
func Sweep() error {
	out, err := run(context.Background(), "ip", "netns", "list")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		killAll(f[0])
		if _, err := run(context.Background(), "ip", "netns", "del", f[0]); err != nil {
			return err
		}
	}
	return nil
}

//go:build linux

package tcpcc

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// accepted dials ln and returns the congestion control of the server's end.
func accepted(t *testing.T, ln net.Listener) string {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var gerr error
	rc.Control(func(fd uintptr) { name, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return strings.TrimRight(name, "\x00")
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func kernelDefault(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		t.Skipf("no /proc/sys/net/ipv4/tcp_congestion_control: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func TestSet(t *testing.T) {
	def := kernelDefault(t)
	// reno is built into every kernel and always allowed without CAP_NET_ADMIN; the default
	// is allowed too. Setting both shows the accepted socket follows the listener, whatever
	// the kernel's default is.
	for _, name := range []string{"reno", def} {
		ln := listen(t)
		if err := Set(ln, name); err != nil {
			t.Fatalf("Set(%q): %v", name, err)
		}
		if got := accepted(t, ln); got != name {
			t.Errorf("Set(%q): accepted connection uses %q", name, got)
		}
	}
}

func TestSetSystem(t *testing.T) {
	def := kernelDefault(t)
	ln := listen(t)
	if err := Set(ln, "reno"); err != nil {
		t.Fatal(err)
	}
	if err := Set(ln, System); err != nil {
		t.Fatal(err)
	}
	// System leaves the listener as it is: still reno here, the kernel's default on a fresh one.
	if got := accepted(t, ln); got != "reno" {
		t.Errorf("after Set(System) on a reno listener: %q, want reno", got)
	}
	if got := accepted(t, listen(t)); got != def {
		t.Errorf("fresh listener: %q, want the kernel default %q", got, def)
	}
}

func TestSetErrors(t *testing.T) {
	ln := listen(t)
	err := Set(ln, "no-such-cc")
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("unknown algorithm: %v, want a *net.OpError wrapping ENOENT", err)
	}
	if got, def := accepted(t, ln), kernelDefault(t); got != def {
		t.Errorf("after a failed Set: %q, want the kernel default %q", got, def)
	}
	u, err := net.ListenUnix("unix", &net.UnixAddr{Name: t.TempDir() + "/s", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := Set(u, "reno"); err == nil {
		t.Error("Set on a unix listener: no error")
	}
}

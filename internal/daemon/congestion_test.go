package daemon

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// freeTCPPort returns a loopback port nothing listens on right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The HTTP and NBD connections the daemon accepts run --tcp-congestion's algorithm, as the
// kernel reports it for the server's end of each (ss -ti). reno is built into every kernel
// and allowed without privileges, and differs from the usual defaults (cubic, bbr).
func TestCongestionReachesConnections(t *testing.T) {
	netlab.RequireCommands(t, "ss")
	ss, _ := netlab.LookPath("ss")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	hp, np := freeTCPPort(t), freeTCPPort(t)
	cfg := parse(t, "-a", dir, "--no-tftp", "--http", "--http-server-ip", "127.0.0.1", "--http-port", strconv.Itoa(hp),
		"--nbd", img, "--nbd-server", "127.0.0.1", "--nbd-port", strconv.Itoa(np), "--state-dir", t.TempDir(), "--tcp-congestion", "reno")
	defer runDaemon(t, cfg)()
	for _, port := range []int{hp, np} {
		var c net.Conn
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err = net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port)); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		out, err := exec.Command(ss, "-Htin", "state", "established", "sport", "=", ":"+strconv.Itoa(port)).CombinedOutput()
		c.Close()
		if err != nil {
			t.Fatalf("ss: %v: %s", err, out)
		}
		if !strings.Contains(string(out), " reno ") {
			t.Errorf("port %d: the server's end does not run reno: %q", port, out)
		}
	}
}

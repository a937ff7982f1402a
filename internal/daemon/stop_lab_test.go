package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// A running TFTP transfer survives SIGHUP, and SIGTERM lets it finish within the grace
// period (5 s) before the process exits 0.
func TestSignalsKeepTransfers(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "10.60.9.2/24", "10.60.9.50/24")
	// 32 000 lock-step blocks of 512 bytes: about a second here, well inside the grace
	// period even on a loaded machine, and still running when the signals arrive.
	dir, sum := netbootDir(t, "big.img", 16<<20)
	p := lb.srv.Start(binary(t), "-a", dir)
	waitFor(t, p, "msg=serving")

	dst := filepath.Join(t.TempDir(), "big.img")
	c := lb.cli.Start("tftp", "-m", "binary", "10.60.9.2", "-c", "get", "big.img", dst)
	// Signal once the client has the first megabyte: the transfer is under way.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := os.Stat(dst); err == nil && st.Size() >= 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer did not start:\n%s\n%s", c.Output(), p.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Signal(syscall.SIGHUP)
	waitFor(t, p, "msg=reloaded")
	p.Signal(syscall.SIGTERM)
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("transfer did not end")
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("pxe-edge did not exit after SIGTERM")
	}
	if p.Err() != nil {
		t.Fatalf("exit status after SIGTERM: %v\n%s", p.Err(), p.Output())
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Output())
	}
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		t.Fatalf("transfer cut by SIGHUP/SIGTERM: %d bytes, sha256 mismatch\nclient: %s\nserver:\n%s", len(b), c.Output(), p.Output())
	}
	out := p.Output()
	stop, done := strings.Index(out, "shutting down"), strings.Index(out, "tftp transfer done")
	if stop < 0 || done < stop {
		t.Fatalf("the transfer was not running at SIGTERM (finished before it?):\n%s", out)
	}
}

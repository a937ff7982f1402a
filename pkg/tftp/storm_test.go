package tftp

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestBootStorm: a lab powered on at once. 200 atftp clients (PXE_TFTP_STORM=N, at most
// 2000, for another count) fetch a 1 MiB file at the same moment from a server with the default
// caps (64 transfers, 32 per client address, and every client here shares one address).
// Every one must complete with the right content: requests past the caps wait (no ERROR,
// which PXE firmware takes as a failed boot); the server's peak RSS stays ≤ 20 MiB.
func TestBootStorm(t *testing.T) {
	netlab.RequireCommands(t, "atftp")
	clients := 200
	if v, err := strconv.Atoi(os.Getenv("PXE_TFTP_STORM")); err == nil && v > 0 && v <= 2000 {
		clients = v
	}
	b := newLab(t)
	sum := b.file(t, "f", 1<<20)
	// PXE_TFTP_STORM_ENV="TFTP_MAX=1000 TFTP_PER_CLIENT=-1" runs the server with other caps.
	b.start(t, strings.Fields(os.Getenv("PXE_TFTP_STORM_ENV"))...)
	out := t.TempDir()
	os.Chmod(out, 0o777)
	// One shell starts every client at once and records each exit status.
	script := fmt.Sprintf(`for i in $(seq %d); do (atftp -g -r f -l %s/$i %s >%s/$i.log 2>&1; echo $? >%s/$i.rc) & done; wait`,
		clients, out, srvIP, out, out)
	start := time.Now()
	msg, err := b.run(t, 10*time.Minute, "sh", "-c", script)
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("storm: %v\n%s", err, msg)
	}
	failed := 0
	for i := 1; i <= clients; i++ {
		rc, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.rc", i)))
		if strings.TrimSpace(string(rc)) != "0" || sha256File(t, filepath.Join(out, strconv.Itoa(i))) != sum {
			failed++
			if failed <= 3 {
				log, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.log", i)))
				t.Errorf("client %d: exit %q: %s", i, strings.TrimSpace(string(rc)), lastLines(string(log), 5))
			}
		}
	}
	hwm := vmHWM(t, b.proc.Cmd.Process.Pid)
	busy := strings.Count(b.proc.Output(), "server busy")
	t.Logf("%d clients × 1 MiB: %d failed, wall %v, server VmHWM %d KiB, %d 'server busy'", clients, failed, wall.Round(time.Millisecond), hwm, busy)
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, clients)
	}
	if busy > 0 {
		t.Fatalf("%d requests refused as busy", busy)
	}
	if hwm > 20<<10 {
		t.Fatalf("server peak RSS %d KiB, want ≤ 20 MiB", hwm)
	}
}

// vmHWM returns a process's peak resident set in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

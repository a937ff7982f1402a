package daemon_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"golang.org/x/sys/unix"
)

// Started as root, pxe-edge keeps only CAP_NET_RAW, CAP_NET_BIND_SERVICE and CAP_NET_ADMIN
// on every thread, with an empty bounding set beyond them and no_new_privs, and still serves.
func TestRootDropsToNeededCaps(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "10.60.12.2/24", "10.60.12.50/24")
	dir, _ := netbootDir(t, "f.bin", 4096)
	p := lb.srv.Start(binary(t), "-a", dir)
	waitFor(t, p, "msg=serving")
	if !strings.Contains(p.Output(), "dropped privileges") {
		t.Fatalf("no 'dropped privileges' line:\n%s", p.Output())
	}
	want := uint64(1)<<unix.CAP_NET_RAW | 1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_NET_ADMIN
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(p.Cmd.Process.Pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no tasks for pid %d: %v", p.Cmd.Process.Pid, err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		st := string(b)
		for _, key := range []string{"CapEff", "CapPrm", "CapBnd"} {
			if got := capField(t, st, key); got != want {
				t.Errorf("%s %s = %016x, want %016x", f, key, got, want)
			}
		}
		if !strings.Contains(st, "NoNewPrivs:\t1") {
			t.Errorf("%s: no_new_privs not set", f)
		}
	}
	// It still serves with what it kept.
	c := lb.cli.Start("tftp", "10.60.12.2", "-c", "get", "f.bin", filepath.Join(t.TempDir(), "f.bin"))
	<-c.Done()
	if c.Err() != nil {
		t.Fatalf("TFTP after the drop: %v\n%s\n%s", c.Err(), c.Output(), p.Output())
	}
}

func capField(t *testing.T, status, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in status", key)
	return 0
}

// --user nobody: the daemon runs as nobody with the same three capabilities, owns its state
// directory, and still serves (a file from a world-readable netboot dir).
func TestRunAsUser(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "10.60.27.2/24", "10.60.27.50/24")
	dir, _ := netbootDir(t, "f.bin", 4096)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "f.bin"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every directory on the way must let nobody through (t.TempDir's are 0700).
	base, err := os.MkdirTemp("", "pxe-edge-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "state")
	p := lb.srv.Start(binary(t), "-a", dir, "--user", "nobody", "--state-dir", state)
	waitFor(t, p, "msg=serving")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	st := string(b)
	if !strings.Contains(st, "Uid:\t65534\t65534\t65534\t65534") {
		t.Errorf("not running as nobody:\n%s", st)
	}
	want := uint64(1)<<unix.CAP_NET_RAW | 1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_NET_ADMIN
	if got := capField(t, st, "CapEff"); got != want {
		t.Errorf("CapEff %016x, want %016x", got, want)
	}
	if fi, err := os.Stat(state); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("state dir not handed to nobody: %v", err)
	}
	c := lb.cli.Start("tftp", "10.60.27.2", "-c", "get", "f.bin", filepath.Join(t.TempDir(), "f.bin"))
	<-c.Done()
	if c.Err() != nil {
		t.Fatalf("TFTP as nobody: %v\n%s\n%s", c.Err(), c.Output(), p.Output())
	}
	stopOK(t, p)
}

package board

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// testVersion is stamped into every binary the tests build, so --version can be checked.
const testVersion = "v0.0.0-boardtest"

// crossNames are the binaries scripts/cross.sh writes, keyed by what they are for.
var crossNames = []string{
	"pxe-edge-linux-arm64",
	"pxe-edge-linux-armv6",
	"pxe-edge-linux-armv7",
	"pxe-edge-linux-amd64",
}

// scratch holds directories shared by several tests of this test binary (one cross build,
// one .deb build); TestMain removes it.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pxe-edge-board-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs argv with a timeout in dir (module root if empty) and returns combined output.
func run(t testing.TB, timeout time.Duration, dir string, env []string, argv ...string) ([]byte, error) {
	t.Helper()
	if dir == "" {
		dir = netlab.ModuleRoot(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Its own process group, killed as a whole on timeout; and a bound on waiting for the
	// output pipes, which a leaked grandchild could otherwise hold open forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %v", strings.Join(argv, " "), timeout)
	} else if err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return out.Bytes(), err
}

// mustRun is run that fails the test on error, printing the output.
func mustRun(t testing.TB, timeout time.Duration, dir string, env []string, argv ...string) string {
	t.Helper()
	out, err := run(t, timeout, dir, env, argv...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

var (
	crossOnce sync.Once
	crossDir  string
	crossErr  error
)

// crossBuild runs scripts/cross.sh once per test binary into a scratch dist directory and
// returns that directory.
func crossBuild(t testing.TB) string {
	t.Helper()
	netlab.RequireCommands(t, "go", "sha256sum")
	crossOnce.Do(func() {
		src := filepath.Join(scratch, "src-a")
		if crossErr = snapshotSource(t, src); crossErr != nil {
			return
		}
		crossDir = filepath.Join(scratch, "dist-a")
		out, err := run(t, 10*time.Minute, src, []string{"DIST=" + crossDir},
			"scripts/cross.sh", testVersion)
		if err != nil {
			crossErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if crossErr != nil {
		t.Fatal(crossErr)
	}
	return crossDir
}

// readSums parses a SHA256SUMS file into name → hash.
func readSums(t testing.TB, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		m[strings.TrimPrefix(f[1], "*")] = f[0]
	}
	return m
}

// sourceParts are what a build of cmd/pxe-edge reads.
var sourceParts = []string{"go.mod", "go.sum", "cmd", "internal", "pkg", "scripts"}

// snapshotSource copies the build inputs into dst, so that builds compared with each other
// see the same source even while other work in the tree goes on, and so that a second build
// runs from a different directory (which must not change the bytes).
func snapshotSource(t testing.TB, dst string) error {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	root := netlab.ModuleRoot(t)
	for _, p := range sourceParts {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			continue
		}
		if out, err := run(t, time.Minute, root, nil, "cp", "-a", p, dst+"/"); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
	}
	return nil
}

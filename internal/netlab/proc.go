package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is a background process running in a namespace. Its output is kept for inspection
// and logged when the test fails; it is killed at test cleanup at the latest.
type Proc struct {
	Cmd  *exec.Cmd
	out  SyncBuffer
	done chan struct{}
	err  error
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a process's output,
// a server's log sink in a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs argv in the background inside the namespace. The process gets its own process
// group so that Stop and cleanup reach its children too.
func (n *NS) Start(argv ...string) *Proc {
	t := n.lab.t
	t.Helper()
	p := &Proc{done: make(chan struct{})}
	p.Cmd = exec.Command("ip", append([]string{"netns", "exec", n.Name}, argv...)...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var err error
	onSpawnerThread(func() { err = p.Cmd.Start() })
	if err != nil {
		t.Fatalf("netlab: start %v: %v", argv, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(argv, " "), p.Output())
		}
	})
	return p
}

// Linux sends Pdeathsig when the THREAD that forked the child exits, not the process. Go
// retires the locked threads Do leaves behind (golang/go#27505), and a child forked from one of
// them would be killed mid-test. So every background child is forked from one goroutine locked
// to its thread for the life of the test binary: Pdeathsig then fires only when the test
// binary dies, which is what it is for.
var spawner struct {
	once sync.Once
	reqs chan func()
}

func onSpawnerThread(f func()) {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread must outlive every child
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.reqs <- func() { f(); close(done) }
	<-done
}

// StartCmd starts cmd from the same long-lived thread Start uses, for callers that build their
// own exec.Cmd (a stdin pipe for a guest console, say) and set Pdeathsig on it.
func StartCmd(cmd *exec.Cmd) error {
	var err error
	onSpawnerThread(func() { err = cmd.Start() })
	return err
}

// Output returns everything the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid after Done is closed.
func (p *Proc) Err() error { return p.err }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	if p.Cmd.Process != nil {
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
	}
}

// Kill sends SIGKILL to the whole process group and waits (bounded) for the exit.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills. It returns the exit error.
func (p *Proc) Stop(grace time.Duration) error {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("netlab: process did not exit within %v of SIGTERM", grace)
	}
}

// WaitOutput waits until the process output contains substr, the process exits, or timeout
// passes; it reports whether substr was seen.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Output(), substr) {
			return true
		}
		select {
		case <-p.done:
			return strings.Contains(p.Output(), substr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// Do runs f on an OS thread that has joined the namespace, and returns f's error. Sockets f
// opens belong to the namespace for their whole life, so a test can create listeners there
// and use them from any goroutine. Goroutines f starts do NOT inherit the namespace.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: after setns it is tainted and Go must discard it
		// when this goroutine ends rather than reuse it for other goroutines.
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/run/netns", n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netlab: open namespace %s: %w", n.Name, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netlab: setns %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./cmd/pxe-edge once per test binary and returns the path of the executable.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "pxe-edge-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "pxe-edge")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./cmd/pxe-edge")
		cmd.Dir = root
		// As the release builds (Makefile): without cgo, so what the tests run is what ships.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/pxe-edge: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("netlab: %v", buildErr)
	}
	return buildPath
}

// ModuleRoot returns the directory holding go.mod, for tests that need repository files
// (netboot/, testdata shared across packages).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("netlab: go.mod not found above the working directory")
		}
		dir = parent
	}
}

package httpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/testutil"
)

// fakeClients is a Clients the tests fill by hand.
type fakeClients struct {
	mu     sync.Mutex
	byIP   map[netip.Addr]ClientInfo
	status DaemonStatus
}

func (f *fakeClients) Client(ip netip.Addr) (ClientInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ci, ok := f.byIP[ip]
	return ci, ok
}

func (f *fakeClients) Status() DaemonStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeTree creates files (name → content; content "->target" makes a symlink) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startServer runs s on a loopback listener until the test ends and returns its address.
func startServer(t testing.TB, cfg Config) (*Server, string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln)
	return s, ln.Addr().String(), logs
}

// serve runs s on ln until the test ends; the cleanup cancels it and expects Serve to
// return nil within 10 s.
func serve(t testing.TB, s *Server, ln net.Listener) {
	t.Helper()
	testutil.Serve(t, 10*time.Second, func(ctx context.Context) error { return s.Serve(ctx, ln) })
}

// rawRequest sends a literal request (no client-side path cleaning) and returns the parsed
// response with its body read.
func rawRequest(t testing.TB, addr, request string) (*http.Response, []byte) {
	t.Helper()
	return rawRequestFrom(t, addr, request, nil)
}

// rawRequestFrom is rawRequest from the local address local (nil: any).
func rawRequestFrom(t testing.TB, addr, request string, local net.Addr) (*http.Response, []byte) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

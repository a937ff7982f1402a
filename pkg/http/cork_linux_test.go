package httpd

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// corkProbe wraps the server's accepted connections and records the socket's TCP_CORK
// state, as the kernel has it, at every write and sendfile the server makes.
type corkProbe struct {
	net.Listener
	mu   sync.Mutex
	seen []bool
	last *net.TCPConn
}

func (p *corkProbe) Accept() (net.Conn, error) {
	c, err := p.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	p.mu.Lock()
	p.last = tc
	p.mu.Unlock()
	return &corkProbeConn{TCPConn: tc, p: p}, nil
}

func corked(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	v := -1
	rc.Control(func(fd uintptr) { v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK) })
	return v == 1
}

func (p *corkProbe) record(tc *net.TCPConn) {
	on := corked(tc)
	p.mu.Lock()
	p.seen = append(p.seen, on)
	p.mu.Unlock()
}

// take returns the states seen since the last call, and whether the socket is corked now.
func (p *corkProbe) take() (seen []bool, now bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen, p.seen = p.seen, nil
	return seen, p.last != nil && corked(p.last)
}

type corkProbeConn struct {
	*net.TCPConn
	p *corkProbe
}

func (c *corkProbeConn) NetConn() net.Conn { return c.TCPConn }

func (c *corkProbeConn) Write(b []byte) (int, error) {
	c.p.record(c.TCPConn)
	return c.TCPConn.Write(b)
}

func (c *corkProbeConn) ReadFrom(r io.Reader) (int64, error) {
	c.p.record(c.TCPConn)
	return c.TCPConn.ReadFrom(r)
}

// A file body of corkMin or more goes out corked from its headers to its last byte and is
// uncorked when done (so the tail is pushed at once, not after the kernel's 200 ms cork
// limit), over a keep-alive connection and for a range; a small body and HEAD are never
// corked; every body arrives whole. The states are the kernel's, read with getsockopt.
func TestCorkAroundFileBodies(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20+123)
	rand.Read(big)
	small := big[:corkMin-1]
	for name, b := range map[string][]byte{"big.bin": big, "small.bin": small} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Config{Root: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	probe := &corkProbe{Listener: ln}
	serve(t, s, probe)
	addr := ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)

	for _, c := range []struct {
		name, method, rng string
		want              []byte
		corked            bool
	}{
		{"big", "GET", "", big, true},
		{"big again on the same connection", "GET", "", big, true},
		{"big range", "GET", "bytes=100-2000000", big[100:2000001], true},
		{"small range of big", "GET", "bytes=0-999", big[:1000], false},
		{"small", "GET", "", small, false},
		{"big HEAD", "HEAD", "", nil, false},
	} {
		name := "/big.bin"
		if c.name == "small" {
			name = "/small.bin"
		}
		req, _ := http.NewRequest(c.method, "http://"+addr+name, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, c.want) {
			t.Errorf("%s: %d bytes (err %v), want %d", c.name, len(body), err, len(c.want))
		}
		seen, now := probe.take()
		if len(seen) == 0 {
			t.Errorf("%s: no writes seen", c.name)
		}
		for i, on := range seen {
			if on != c.corked {
				t.Errorf("%s: write %d of %d with TCP_CORK %v, want %v", c.name, i+1, len(seen), on, c.corked)
			}
		}
		if now {
			t.Errorf("%s: socket still corked after the client got the whole response", c.name)
		}
	}
}

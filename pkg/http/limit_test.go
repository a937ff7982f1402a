package httpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

func TestLimitListenerKeepsReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(ln, 1, 1)
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// net/http only takes the sendfile path when the connection is an io.ReaderFrom.
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Fatalf("%T hides ReadFrom: file bodies would be copied in userspace", c)
	}
}

// holdSlot opens a connection from local (nil: any) that sends an unfinished request line,
// so it is neither idle nor done until the header timeout.
func holdSlot(t *testing.T, addr string, local net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET /a.txt HTTP/1.1\r\n")
	return c
}

// getFrom fetches path from addr over a new connection from local (nil: any) and returns
// the status code; the client gives up after 10 s.
func getFrom(addr, path string, local net.Addr) (int, error) {
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{LocalAddr: local}).DialContext,
	}}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestMaxConns(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	_, addr, _ := startServer(t, Config{Root: dir, MaxConns: 2, ReadHeaderTimeout: time.Minute})
	// Two requests in progress (headers unfinished) take both slots.
	held := []net.Conn{holdSlot(t, addr, nil), holdSlot(t, addr, nil)}
	// The third waits in the accept queue…
	third := make(chan error, 1)
	go func() { // from another address: 127.0.0.1 is at its own cap
		_, err := getFrom(addr, "/a.txt", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("third connection served while two slots were held (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	// …until a slot frees.
	held[0].Close()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third connection not served after a slot freed")
	}
}

// TestIdleKeepAlivesYield: with every slot held by a keep-alive connection idle between
// requests, a new client is served at once (the oldest idle one is closed), not after the
// 60 s IdleTimeout.
func TestIdleKeepAlivesYield(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	s, addr, _ := startServer(t, Config{Root: dir, MaxConns: 2})
	var idle []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		idle = append(idle, c)
	}
	done := make(chan error, 1)
	go func() {
		code, err := getFrom(addr, "/a.txt", nil)
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("new client not served within 8 s while idle keep-alives held every slot")
	}
	// The first idle connection was the one closed.
	idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle[0].Read(make([]byte, 1)); err == nil {
		t.Errorf("oldest idle connection still open (read %d bytes)", n)
	}
	if !strings.Contains(string(s.writeMetrics()), `pxe_edge_http_connections_limited_total{action="idle_closed"} 1`) {
		t.Errorf("metrics do not count the closed idle connection:\n%s", s.writeMetrics())
	}
}

// TestUnsentBodyFreesSlot: a request that announces a body and never sends it is answered
// and its connection closed; it does not hold its slot.
func TestUnsentBodyFreesSlot(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	_, addr, _ := startServer(t, Config{Root: dir, MaxConns: 1})
	for _, req := range []string{
		"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n",
		"POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc",
		"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, req)
		c.SetReadDeadline(time.Now().Add(8 * time.Second))
		all, err := io.ReadAll(c) // the answer, then the server's close
		if err != nil {
			t.Fatalf("%q: connection still open after 8 s (%v), read %q", req, err, all)
		}
		if !strings.HasPrefix(string(all), "HTTP/1.1 ") {
			t.Errorf("%q: no answer: %q", req, all)
		}
		// The one slot is free again, for this address too, once net/http has closed the
		// connection (it lingers up to 500 ms after its FIN to avoid a reset).
		var code int
		for range 50 {
			if code, err = getFrom(addr, "/a.txt", nil); err != nil || code != http.StatusServiceUnavailable {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || code != 200 {
			t.Fatalf("after %q: next request %d %v", req, code, err)
		}
	}
}

// TestSlowlorisHeaders: a client trickling its headers a byte at a time is dropped at the
// header timeout and the slot goes to the next client.
func TestSlowlorisHeaders(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	_, addr, _ := startServer(t, Config{Root: dir, MaxConns: 1, ReadHeaderTimeout: 300 * time.Millisecond})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, b := range []byte("GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the trickler has the slot
	code, err := getFrom(addr, "/a.txt", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil || code != 200 {
		t.Fatalf("next client: %d %v", code, err)
	}
}

// TestPerClientCap: one address cannot take every slot. Loopback has all of 127/8, so the
// second client dials from 127.0.0.2.
func TestPerClientCap(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	s, addr, _ := startServer(t, Config{Root: dir, MaxConns: 3, MaxConnsPerClient: 2, ReadHeaderTimeout: time.Minute})
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	two := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	holdSlot(t, addr, one)
	holdSlot(t, addr, one)
	time.Sleep(100 * time.Millisecond) // both accepted
	code, err := getFrom(addr, "/a.txt", one)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("third connection from 127.0.0.1: %d %v, want 503", code, err)
	}
	code, err = getFrom(addr, "/a.txt", two)
	if err != nil || code != 200 {
		t.Errorf("first connection from 127.0.0.2: %d %v, want 200", code, err)
	}
	if !strings.Contains(string(s.writeMetrics()), `pxe_edge_http_connections_limited_total{action="refused_per_client"} 1`) {
		t.Errorf("metrics do not count the refusal")
	}

	// A client at its cap with an idle keep-alive gives that one up instead.
	three := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}
	_, addr2, _ := startServer(t, Config{Root: dir, MaxConns: 4, MaxConnsPerClient: 2, ReadHeaderTimeout: time.Minute})
	holdSlot(t, addr2, three)
	idle, err := (&net.Dialer{LocalAddr: three}).Dial("tcp", addr2)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(100 * time.Millisecond) // the server has marked it idle
	if code, err := getFrom(addr2, "/a.txt", three); err != nil || code != 200 {
		t.Errorf("third connection from 127.0.0.3 with one idle: %d %v, want 200", code, err)
	}
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("the idle connection was not the one closed")
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	s, err := New(Config{Root: t.TempDir(), Status: true, ShutdownGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	// The stream ends at shutdown rather than holding it for the whole grace period.
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("shutdown took %v with an open event stream", d)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("stream ended with %v", err)
	}
}

func TestHeaderTimeout(t *testing.T) {
	_, addr, _ := startServer(t, Config{Root: t.TempDir(), ReadHeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\n") // never finishes the headers
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a connection with unfinished headers open for 5 s")
	}
}

// TestWriteStall: a client that stops reading mid-download is dropped after
// WriteStallTimeout, while sendfile is blocked on the full socket — and the download is
// reported as failed.
func TestWriteStall(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil { // sparse: far more than socket buffers hold
		t.Fatal(err)
	}
	f.Close()
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(256)
	defer cancel()
	_, addr, _ := startServer(t, Config{Root: dir, Events: bus, WriteStallTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /big.img HTTP/1.1\r\nHost: x\r\n\r\n")
	c.Read(make([]byte, 4096)) // headers, then never read again
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Kind == events.TransferFailed {
				if e.Bytes <= 0 || e.Bytes >= 256<<20 {
					t.Errorf("failed after %d bytes", e.Bytes)
				}
				return
			}
			if e.Kind == events.TransferDone {
				t.Fatal("a client that stopped reading got the whole file?")
			}
		case <-deadline:
			t.Fatal("stalled download not dropped within 15 s (WriteStallTimeout 300 ms)")
		}
	}
}

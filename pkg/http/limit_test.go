package httpd

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

func TestLimitListenerKeepsReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(ln, 1)
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

func TestMaxConns(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A"})
	_, addr, _ := startServer(t, Config{Root: dir, MaxConns: 2})
	// Two idle keep-alive connections take both slots.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		io.WriteString(c, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	// The third waits in the accept queue…
	third := make(chan error, 1)
	go func() {
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + addr + "/a.txt")
		if err == nil {
			resp.Body.Close()
		}
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
	held[1].Close()
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

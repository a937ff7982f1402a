package httpd

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// The raw path sends a cached range from the file's position, moves the position and the
// reader's N, and leaves a range that is not in the page cache to the caller (net's
// sendfile, which may wait for the disk without holding a P).
func TestRawSendfileCachedOnly(t *testing.T) {
	const size = 3 << 20
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv, cli := tcpPair(t)
	raw := newRawSendfile(srv)
	if raw == nil {
		t.Fatal("no raw path for a TCP connection")
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(cli)
		got <- b
	}()

	// Clean pages dropped from the cache: not for the raw path.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if raw.cached(f.Fd(), size) {
		t.Log("the file stayed in the page cache after FADV_DONTNEED (tmpfs?): uncached case not checked")
	} else {
		lr := &io.LimitedReader{R: f, N: 1 << 20}
		n, handled, err := raw.readFrom(lr)
		if handled || n != 0 || err != nil || lr.N != 1<<20 {
			t.Fatalf("uncached range: n=%d handled=%v err=%v N=%d; want it left to the caller", n, handled, err, lr.N)
		}
		if noNowait.Load() {
			t.Skip("no RWF_NOWAIT reads here: the raw path is never taken")
		}
	}

	// Read once: cached now. Send [1000, size) in two pieces from the file's position.
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int64{1 << 20, size - 1000 - 1<<20} {
		lr := &io.LimitedReader{R: f, N: piece}
		n, handled, err := raw.readFrom(lr)
		if !handled || err != nil || n != piece || lr.N != 0 {
			t.Fatalf("cached piece of %d: n=%d handled=%v err=%v N=%d", piece, n, handled, err, lr.N)
		}
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != size {
		t.Fatalf("file position %d after the body, want %d", pos, size)
	}
	// A range past the end of the file has pages that cannot be cached: the caller's path,
	// which reports the short count.
	lr := &io.LimitedReader{R: f, N: 4096}
	if _, handled, _ := raw.readFrom(lr); handled {
		t.Fatal("range past the end of the file went the raw way")
	}
	srv.CloseWrite()
	if b := <-got; !bytes.Equal(b, data[1000:]) {
		t.Fatalf("client got %d bytes, not the file's %d from offset 1000", len(b), size-1000)
	}
}

// A reset peer is an error of the write, with the bytes sent so far.
func TestRawSendfilePeerGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	io.Copy(io.Discard, f)
	f.Seek(0, io.SeekStart)
	srv, cli := tcpPair(t)
	cli.SetLinger(0)
	cli.Close() // RST at the first segment
	raw := newRawSendfile(srv)
	var err2 error
	for range 10 { // the first send may still be accepted into the socket buffer
		lr := &io.LimitedReader{R: f, N: 8 << 20}
		f.Seek(0, io.SeekStart)
		_, handled, err := raw.readFrom(lr)
		if !handled {
			if noNowait.Load() {
				t.Skip("no RWF_NOWAIT reads here: the raw path is never taken")
			}
			t.Fatal("cached file not taken by the raw path")
		}
		if err2 = err; err != nil {
			break
		}
	}
	if err2 == nil {
		t.Fatal("no error sending to a reset connection")
	}
}

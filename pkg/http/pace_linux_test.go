package httpd

import (
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, closed at cleanup.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
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

// pacedPair is tcpPair with the server end's connSock, as withConn makes it.
func pacedPair(t *testing.T) (server, client *net.TCPConn, s *connSock) {
	t.Helper()
	server, client = tcpPair(t)
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return server, client, &connSock{rc: rc}
}

// TestPieceSizeFollowsAcknowledgedPace checks the sizing of sendfile pieces on real sockets:
// bytes the client took grow the next piece, bytes still queued in the server's kernel do
// not, so a client that does not read keeps the smallest piece however fast the kernel took
// the bytes in.
func TestPieceSizeFollowsAcknowledgedPace(t *testing.T) {
	const target = 50 * time.Millisecond
	if got := (*connSock)(nil).pieceSize(target); got != pieceMin {
		t.Errorf("no socket: piece %d, want %d", got, pieceMin)
	}

	srv, cli, s := pacedPair(t)
	if got := s.pieceSize(target); got != pieceMin {
		t.Errorf("no pace yet: piece %d, want %d", got, pieceMin)
	}

	// A client that reads everything: 1 MiB in 40 ms is 25 MiB/s, 1.25 MiB per 50 ms (below
	// pieceMax; a byte either way for the float arithmetic).
	const n = 1 << 20
	done := make(chan error, 1)
	go func() { _, err := io.CopyN(io.Discard, cli, n); done <- err }()
	if _, err := srv.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s)
	s.measure(n, 40*time.Millisecond)
	if got, want := s.pieceSize(target), int64(5<<18); got < want-1 || got > want+1 {
		t.Errorf("after 1 MiB taken in 40 ms: piece %d, want %d", got, want)
	}
	s.measure(n, time.Microsecond) // a pace past any board's: held at the top
	if got := s.pieceSize(target); got != pieceMax {
		t.Errorf("very fast client: piece %d, want %d", got, pieceMax)
	}

	// A client that stops reading: what the kernel queued is not taken as sent.
	srv2, _, s2 := pacedPair(t)
	srv2.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	var queued int64
	for {
		k, err := srv2.Write(make([]byte, 64<<10))
		queued += int64(k)
		if err != nil {
			break // the buffers are full: the deadline ended the write
		}
	}
	q, ok := s2.unacked()
	if !ok || q <= 0 {
		t.Fatalf("unacked = %d, %v after queueing %d bytes to a client that does not read", q, ok, queued)
	}
	s2.measure(queued, time.Millisecond)
	// Only what the client's kernel took into its receive buffer counts: at most its
	// buffer's worth in 1 ms, never the whole queue.
	if s2.pace >= float64(queued)/time.Millisecond.Seconds() {
		t.Errorf("pace %.0f B/s counts the %d bytes still queued", s2.pace, q)
	}
}

// waitAcked waits (bounded) until the socket holds nothing unacknowledged.
func waitAcked(t *testing.T, s *connSock) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if q, ok := s.unacked(); ok && q == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the client's kernel did not acknowledge within 1 s")
}

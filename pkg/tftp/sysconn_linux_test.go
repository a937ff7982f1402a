//go:build linux

package tftp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSysConn(t *testing.T) {
	c, err := listenTransfer(netip.MustParseAddr("127.0.0.1"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(*sysConn)
	if !ok {
		t.Fatalf("listenTransfer returned %T for IPv4", c)
	}
	peer := clientConn(t)
	buf := make([]byte, 100)

	// Deadline: a read with nothing to read times out as a net.Error with Timeout().
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, _, err = c.ReadFromUDPAddrPort(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	if el := time.Since(start); el < 45*time.Millisecond || el > time.Second {
		t.Fatalf("deadline of 50ms took %v", el)
	}

	// Round trip with the peer: addresses and ports come out right.
	local := localAddrOf(t, sc)
	if _, err := c.WriteToUDPAddrPort([]byte("ping"), peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "ping" || from != local {
		t.Fatalf("peer got %q from %v (%v), want ping from %v", buf[:n], from, err, local)
	}
	peer.WriteToUDPAddrPort([]byte("pong"), local)
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err = c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "pong" || from != peer.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("got %q from %v (%v)", buf[:n], from, err)
	}

	// abort from another goroutine wakes a read blocked without a deadline.
	readEndsClosed(t, c, func() { abortConn(c) }, "abort")
	if _, err := c.WriteToUDPAddrPort([]byte("x"), local); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after abort: %v", err)
	}
}

// readEndsClosed starts a read on c without a deadline, calls stop from this goroutine while
// the read waits, and checks that the read ends with net.ErrClosed within 2 s.
func readEndsClosed(t *testing.T, c packetConn, stop func(), what string) {
	t.Helper()
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		var buf [100]byte
		_, _, err := c.ReadFromUDPAddrPort(buf[:])
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	stop()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read ended by %s: %v, want net.ErrClosed", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s did not end a waiting read", what)
	}
}

func localAddrOf(t *testing.T, c *sysConn) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		t.Fatal(err)
	}
	return sockaddrAddrPort(sa)
}

// TestSegmentWriters: writeSegments, blocking (sysConn) and through the poller (pollConn),
// puts one datagram per segment on the wire, the last one shorter, and allocates nothing.
func TestSegmentWriters(t *testing.T) {
	for _, blocking := range []bool{true, false} {
		c, err := listenTransfer(netip.MustParseAddr("127.0.0.1"), blocking)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sw, ok := c.(segmentWriter)
		if !ok {
			t.Fatalf("blocking=%v: %T cannot send segments", blocking, c)
		}
		peer := clientConn(t)
		to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
		b := make([]byte, 3*100+7)
		for i := range b {
			b[i] = byte(i / 100)
		}
		ok, err = sw.writeSegments(b, 100, to)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Skip("no UDP segmentation offload on loopback here")
		}
		buf := make([]byte, 1000)
		peer.SetReadDeadline(time.Now().Add(time.Second))
		for i, want := range []int{100, 100, 100, 7} {
			n, _, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("blocking=%v: datagram %d: %v", blocking, i, err)
			}
			if n != want || buf[0] != byte(i) || buf[n-1] != byte(i) {
				t.Fatalf("blocking=%v: datagram %d: %d bytes starting %d, want %d bytes of %d", blocking, i, n, buf[0], want, i)
			}
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := sw.writeSegments(b, 100, to); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				peer.ReadFromUDPAddrPort(buf)
			}
		})
		if allocs != 0 {
			t.Fatalf("blocking=%v: %v allocations per segmented send", blocking, allocs)
		}
	}
}

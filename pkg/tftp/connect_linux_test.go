//go:build linux

package tftp

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
	"golang.org/x/sys/unix"
)

// TestConnectTransfer: a transfer socket, blocking or on the poller, ends up connected to
// its client; the client's datagrams reach it and nobody else's do; a stranger (another
// port, another address) gets ERROR 5 from the transfer's own port; replies to the client
// go out without an address; closing the socket frees the port, strays socket included.
func TestConnectTransfer(t *testing.T) {
	for _, tc := range []struct {
		local     string
		blocking  bool
		strangers []string
	}{
		{"127.0.0.1", true, []string{"127.0.0.1:0", "127.0.0.2:0"}},
		{"127.0.0.1", false, []string{"127.0.0.1:0", "127.0.0.2:0"}},
		{"::1", false, []string{"[::1]:0"}},
	} {
		blocking := tc.blocking
		local := netip.MustParseAddr(tc.local)
		c, err := listenTransfer(local, blocking)
		if err != nil {
			t.Fatal(err)
		}
		client, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		caddr := client.LocalAddr().(*net.UDPAddr).AddrPort()
		var mu sync.Mutex
		var heard []netip.AddrPort
		connectTransfer(c, caddr, func(from netip.AddrPort) {
			mu.Lock()
			heard = append(heard, from)
			mu.Unlock()
		})
		var peer, port netip.AddrPort
		if err := c.(transferSocket).control(func(fd int) error {
			sa, err := unix.Getpeername(fd)
			if err != nil {
				return err
			}
			peer = sockaddrAddrPort(sa)
			la, err := unix.Getsockname(fd)
			if err != nil {
				return err
			}
			port = sockaddrAddrPort(la)
			return nil
		}); err != nil {
			t.Fatalf("%s blocking=%v: not connected: %v", tc.local, blocking, err)
		}
		if peer != caddr {
			t.Fatalf("%s blocking=%v: connected to %v, want %v", tc.local, blocking, peer, caddr)
		}

		// Strangers on another port and on another address get ERROR 5 from the
		// transfer's port; the transfer socket sees only its client.
		var strangers []*net.UDPConn
		for _, a := range tc.strangers {
			s, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(a)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			strangers = append(strangers, s)
			if _, err := s.WriteToUDPAddrPort(AppendAck(nil, 1), port); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 100)
		for i, s := range strangers {
			s.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, from, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("%s blocking=%v: stranger %d: %v", tc.local, blocking, i, err)
			}
			var p Packet
			if p.Decode(buf[:n]); p.Op != OpERROR || p.Code != ErrUnknownTID || from != port {
				t.Fatalf("%s blocking=%v: stranger %d got %v %d from %v, want ERROR 5 from %v", tc.local, blocking, i, p.Op, p.Code, from, port)
			}
		}
		client.WriteToUDPAddrPort(AppendAck(nil, 7), port)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		var p Packet
		if err != nil || from != caddr || p.Decode(buf[:n]) != nil || p.Op != OpACK || p.Block != 7 {
			t.Fatalf("%s blocking=%v: transfer socket read %v from %v (%v), want the client's ACK 7", tc.local, blocking, buf[:n], from, err)
		}
		mu.Lock()
		if len(heard) != len(tc.strangers) {
			t.Errorf("%s blocking=%v: onStray heard %v, want the strangers", tc.local, blocking, heard)
		}
		mu.Unlock()

		// To the client: no address on the wire call, the data arrives from the port.
		if _, err := c.WriteToUDPAddrPort([]byte("data"), caddr); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, from, err := client.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "data" || from != port {
			t.Fatalf("%s blocking=%v: client got %q from %v (%v)", tc.local, blocking, buf[:n], from, err)
		}

		c.Close()
		again, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(port))
		if err != nil {
			t.Fatalf("%s blocking=%v: port still taken after Close (strays socket left open?): %v", tc.local, blocking, err)
		}
		again.Close()
	}
}

// TestClientGone: a client that closes its port in the middle of a transfer ends it at the
// first resend (port unreachable on the connected socket), not after every retry.
func TestClientGone(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 50000)
	bus := events.NewBus()
	ev, cancel := bus.Subscribe(64)
	defer cancel()
	_, srv := startServer(t, dir, func(s *Server) {
		s.Timeout = 200 * time.Millisecond
		s.Retries = 10 // ~200 s of backoff if the server kept trying
		s.Events = bus
	})
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Close() // no ACK: the server resends DATA 1 after 200 ms into a closed port
	e := endEvent(t, ev, 5*time.Second)
	if e.Kind != events.TransferFailed || !strings.Contains(e.Err, errGone.Error()) {
		t.Fatalf("transfer ended with %v %q, want failed: %v", e.Kind, e.Err, errGone)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v to notice", d)
	}
}

// TestPollConnConnectedIO: once connected, a poller socket's reads and writes (raw system
// calls, rawIO) keep the errors the engine tells apart — a deadline is a timeout, a closed
// client port is ECONNREFUSED, Close from another goroutine ends a waiting read with
// net.ErrClosed — and a round trip allocates nothing.
func TestPollConnConnectedIO(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	pc, err := listenTransfer(local, false)
	if err != nil {
		t.Fatal(err)
	}
	c := pc.(*pollConn)
	defer c.Close()
	client, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	caddr := client.LocalAddr().(*net.UDPAddr).AddrPort()
	connectTransfer(c, caddr, nil)
	if c.raw == nil {
		t.Fatal("connected poller socket has no raw reader")
	}
	port := c.LocalAddr().(*net.UDPAddr).AddrPort()

	buf := make([]byte, 100)
	cbuf := make([]byte, 100)
	data, ack := []byte("data"), []byte("ack")
	roundTrip := func() {
		if _, err := c.WriteToUDPAddrPort(data, caddr); err != nil {
			t.Fatal(err)
		}
		if n, _, err := client.ReadFromUDPAddrPort(cbuf); err != nil || string(cbuf[:n]) != "data" {
			t.Fatalf("client got %q (%v)", cbuf[:n], err)
		}
		if _, err := client.WriteToUDPAddrPort(ack, port); err != nil {
			t.Fatal(err)
		}
		if n, from, err := c.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "ack" || from != caddr {
			t.Fatalf("transfer socket read %q from %v (%v), want ack from %v", buf[:n], from, err, caddr)
		}
	}
	roundTrip()
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Errorf("%v allocations per round trip", allocs)
	}

	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, err = c.ReadFromUDPAddrPort(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}

	client.Close() // the next datagram draws port unreachable, reported on the next read
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.WriteToUDPAddrPort(data, caddr); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFromUDPAddrPort(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read after the client closed its port: %v, want ECONNREFUSED", err)
	}

	readEndsClosed(t, c, func() { c.Close() }, "Close")
}

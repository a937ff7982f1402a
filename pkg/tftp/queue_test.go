package tftp

import (
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// readPacket waits up to d for one packet on c.
func readPacket(t *testing.T, c *net.UDPConn, d time.Duration) (Packet, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 70000)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return Packet{}, netip.AddrPort{}, false
	}
	var p Packet
	if err := p.Decode(append([]byte(nil), buf[:n]...)); err != nil {
		t.Fatal(err)
	}
	return p, from, true
}

// TestBusyWaits: a request beyond MaxTransfers is not refused (PXE firmware takes an ERROR
// as a failed boot); it waits and is served once the running transfer ends.
func TestBusyWaits(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 5000)
	s, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 1; s.Timeout = time.Second })
	// The first transfer stalls: its DATA 1 is not acknowledged yet.
	c1 := clientConn(t)
	c1.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	p, from1, ok := readPacket(t, c1, 2*time.Second)
	if !ok || p.Op != OpDATA {
		t.Fatalf("first client: no DATA 1")
	}
	type result struct {
		res *fetchResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := newTestClient(clientConn(t)).get(srv, "f", "octet")
		done <- result{res, err}
	}()
	time.Sleep(500 * time.Millisecond) // the second request (and a repeat) arrive while busy
	select {
	case r := <-done:
		t.Fatalf("second transfer ended while the first ran: %v (ERROR %d %q)", r.err, r.res.errCode, r.res.errMsg)
	default:
	}
	if s.Active() != 1 {
		t.Fatalf("%d active transfers, want 1", s.Active())
	}
	c1.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "done"), from1) // end the first
	r := <-done
	if r.err != nil || r.res.sum != sha256.Sum256(want) {
		t.Fatalf("queued transfer: %v", r.err)
	}
}

// TestQueueAbsorbsRepeats: a client repeating its RRQ while queued gets one transfer.
func TestQueueAbsorbsRepeats(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 100)
	s, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 1; s.Timeout = 2 * time.Second })
	c1 := clientConn(t)
	c1.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	if _, _, ok := readPacket(t, c1, 2*time.Second); !ok {
		t.Fatal("first client: no answer")
	}
	c2 := clientConn(t)
	rrq := AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"})
	for range 5 {
		c2.WriteToUDPAddrPort(rrq, srv)
	}
	time.Sleep(100 * time.Millisecond)
	if n := s.Queued(); n != 1 {
		t.Fatalf("%d queued, want 1", n)
	}
	// The first transfer times out (Retries × Timeout is long; end it as a client would).
	c1.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "done"), mustFrom(t, c1))
	tids := map[netip.AddrPort]bool{}
	for {
		p, from, ok := readPacket(t, c2, 1500*time.Millisecond)
		if !ok {
			break
		}
		if p.Op == OpDATA {
			tids[from] = true
			c2.WriteToUDPAddrPort(AppendAck(nil, p.Block), from)
		}
	}
	if len(tids) != 1 {
		t.Fatalf("%d transfers answered the repeated request, want 1", len(tids))
	}
}

// mustFrom reads DATA 1's repeat from c to learn the server's transfer id.
func mustFrom(t *testing.T, c *net.UDPConn) netip.AddrPort {
	t.Helper()
	_, from, ok := readPacket(t, c, 5*time.Second)
	if !ok {
		t.Fatal("no retransmission from the first transfer")
	}
	return from
}

// TestQueueFullUnanswered: beyond MaxQueued a request gets no answer at all (no ERROR),
// and a retransmission after room frees is served.
func TestQueueFullUnanswered(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 100)
	_, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 1; s.MaxQueued = 1; s.Timeout = 2 * time.Second })
	c1, c2, c3 := clientConn(t), clientConn(t), clientConn(t)
	rrq := AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"})
	c1.WriteToUDPAddrPort(rrq, srv)
	_, from1, ok := readPacket(t, c1, 2*time.Second)
	if !ok {
		t.Fatal("first client: no answer")
	}
	c2.WriteToUDPAddrPort(rrq, srv) // queued
	time.Sleep(50 * time.Millisecond)
	c3.WriteToUDPAddrPort(rrq, srv) // queue full: silence
	if p, _, ok := readPacket(t, c3, 300*time.Millisecond); ok {
		t.Fatalf("third client got %v, want no answer", p.Op)
	}
	c1.WriteToUDPAddrPort(AppendAck(nil, 1), from1) // first done (100 bytes: one block)
	p, from2, ok := readPacket(t, c2, 2*time.Second)
	if !ok || p.Op != OpDATA {
		t.Fatal("queued client not served")
	}
	c3.WriteToUDPAddrPort(rrq, srv) // the client's retransmission: queued now
	c2.WriteToUDPAddrPort(AppendAck(nil, 1), from2)
	if p, _, ok := readPacket(t, c3, 2*time.Second); !ok || p.Op != OpDATA {
		t.Fatal("retransmitted request not served")
	}
}

// TestPerClientCap: one address runs at most MaxPerClient transfers; its next request
// waits while another address is served at once.
func TestPerClientCap(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 100)
	s, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 4; s.MaxPerClient = 1; s.Timeout = 2 * time.Second })
	rrq := AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"})
	a1, a2 := clientConn(t), clientConn(t)
	a1.WriteToUDPAddrPort(rrq, srv)
	_, from1, ok := readPacket(t, a1, 2*time.Second)
	if !ok {
		t.Fatal("first request: no answer")
	}
	a2.WriteToUDPAddrPort(rrq, srv)
	if p, _, ok := readPacket(t, a2, 300*time.Millisecond); ok {
		t.Fatalf("second request from the same address got %v while the first ran", p.Op)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.WriteToUDPAddrPort(rrq, srv)
	if p, _, ok := readPacket(t, b, 2*time.Second); !ok || p.Op != OpDATA {
		t.Fatal("another address was not served at once")
	}
	if s.Active() != 2 {
		t.Fatalf("%d active, want 2", s.Active())
	}
	a1.WriteToUDPAddrPort(AppendAck(nil, 1), from1)
	if p, _, ok := readPacket(t, a2, 2*time.Second); !ok || p.Op != OpDATA {
		t.Fatal("the waiting request did not start when its address's transfer ended")
	}
}

// TestStorm: many more clients than slots, all at once, all complete.
func TestStorm(t *testing.T) {
	dir := t.TempDir()
	want := sha256.Sum256(writeFile(t, dir, "f", 64<<10))
	s, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 8 })
	const clients = 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		c := clientConn(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := newTestClient(c)
			tc.retries = 100
			res, err := tc.get(srv, "f", "octet", opt("blksize", 1468))
			if err == nil && res.sum != want {
				err = errors.New("wrong content")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The server ends each transfer when the last ACK arrives, a moment after its client.
	deadline := time.Now().Add(2 * time.Second)
	for s.Active() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Active() != 0 {
		t.Fatalf("%d still active", s.Active())
	}
}

// TestLongClientTimeoutBounded: a client's timeout=255 paces retransmissions but does not
// keep a silent transfer past IdleTimeout (it used to become the read deadline, checked
// against IdleTimeout only on waking).
func TestLongClientTimeoutBounded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 5000)
	s, srv := startServer(t, dir, func(s *Server) { s.IdleTimeout = 500 * time.Millisecond })
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{opt("timeout", 255)}}), srv)
	if _, _, ok := readPacket(t, c, 2*time.Second); !ok {
		t.Fatal("no OACK")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Active() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s.Active() != 0 {
		t.Fatal("a silent client with timeout=255 still holds its slot after 10 × IdleTimeout")
	}
}

// TestTrickleAckerDropped: a client acknowledging one new block at a time, each well
// within the retransmission timeout but too few per IdleTimeout, is dropped: it used to
// hold its slot for as long as the file lasted.
func TestTrickleAckerDropped(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 512*200)
	bus := events.NewBus()
	evs, cancel := bus.Subscribe(64)
	defer cancel()
	s, srv := startServer(t, dir, func(s *Server) {
		s.Timeout = 3 * time.Second
		s.IdleTimeout = 800 * time.Millisecond
		s.Events = bus
	})
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	p, from, ok := readPacket(t, c, 2*time.Second)
	if !ok || p.Op != OpDATA {
		t.Fatal("no DATA 1")
	}
	start := time.Now()
	for blk := uint16(1); time.Since(start) < 4*time.Second && s.Active() > 0; blk++ {
		time.Sleep(200 * time.Millisecond)
		c.WriteToUDPAddrPort(AppendAck(nil, blk), from)
	}
	if s.Active() != 0 {
		t.Fatal("a client acknowledging 5 blocks a second still holds its slot")
	}
	if e := endEvent(t, evs, 2*time.Second); e.Kind != events.TransferFailed || !strings.Contains(e.Err, "no progress") {
		t.Fatalf("ended with %v %q, want failed: no progress", e.Kind, e.Err)
	}
}

// A client that never answers (a spoofed or dead requester) gets its first packet
// 1 + silentRetries times, whatever Retries allows a client that has answered: it must not
// hold a slot for the whole backoff while others wait.
func TestSilentClientLetGo(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 512*4)
	s, srv := startServer(t, dir, func(s *Server) {
		s.Timeout = 100 * time.Millisecond
		s.Retries = 6
	})
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	sends := 0
	for {
		p, _, ok := readPacket(t, c, 5*time.Second)
		if !ok {
			break
		}
		if p.Op != OpDATA || p.Block != 1 {
			t.Fatalf("got %v %d, want DATA 1", p.Op, p.Block)
		}
		sends++
	}
	if sends != 1+silentRetries {
		t.Errorf("DATA 1 sent %d times to a silent client, want %d", sends, 1+silentRetries)
	}
	if s.Active() != 0 {
		t.Error("the silent client still holds its slot")
	}
}

// panicSource opens files whose reads panic.
type panicSource struct{ FileSource }

func (p panicSource) Open(r *Request) (File, error) {
	if r.Path == "boom" {
		return panicFile{}, nil
	}
	return p.FileSource.Open(r)
}

type panicFile struct{}

func (panicFile) ReadAt([]byte, int64) (int, error) { panic("read exploded") }
func (panicFile) Size() int64                       { return 10 }
func (panicFile) Close() error                      { return nil }

// TestTransferPanicRecovered: a panic inside a transfer ends that transfer only and frees
// its slot; the server goes on serving.
func TestTransferPanicRecovered(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 3000)
	s, srv := startServer(t, dir, func(s *Server) { s.MaxTransfers = 1; s.Source = panicSource{s.Source} })
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "boom", Mode: "octet"}), srv)
	time.Sleep(200 * time.Millisecond)
	if s.Active() != 0 {
		t.Fatal("the panicked transfer still holds its slot")
	}
	res, err := newTestClient(clientConn(t)).get(srv, "f", "octet")
	if err != nil || res.sum != sha256.Sum256(want) {
		t.Fatalf("after a panic: %v", err)
	}
}

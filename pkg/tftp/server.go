package tftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Defaults for the zero values of Server's fields.
const (
	DefaultMaxTransfers   = 64
	DefaultMaxQueued      = 1024
	DefaultWindowSizeMax  = 64
	DefaultWindowBytesMax = 64 << 10
	DefaultTimeout        = time.Second
	DefaultRetries        = 5
	DefaultIdleTimeout    = 60 * time.Second
	DefaultBlockSizeMax   = MaxBlockSize
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("tftp: server closed")

// Server is a read-only TFTP server. Set its fields before the first Serve and do not
// change them afterwards; zero values take the defaults above. One Server may Serve several
// sockets; MaxTransfers bounds them together.
type Server struct {
	// Source opens requested files. Required.
	Source FileSource
	// MaxTransfers bounds concurrent transfers (dnsmasq's tftp-max). A request beyond it
	// waits in a queue (see MaxQueued) and starts when a slot frees: PXE firmware takes an
	// ERROR as a failed boot, so a lab powered on at once must wait, not be refused. One
	// packet buffer per transfer is set aside for it.
	MaxTransfers int
	// MaxPerClient bounds the transfers one client address runs at once, so that one
	// machine cannot hold every slot; its further requests wait in the queue like those
	// beyond MaxTransfers. Zero means MaxTransfers/2 (at least 1); negative means no cap.
	MaxPerClient int
	// MaxQueued bounds the requests waiting for a slot, one entry per client transfer id
	// and file (a repeated request refreshes its entry); one client address may hold at
	// most a quarter of them. A request that finds the queue full gets no answer, so the
	// client retransmits it. Zero means DefaultMaxQueued; negative means no queue (every
	// request beyond the caps goes unanswered until the client retransmits).
	MaxQueued int
	// WindowSizeMax caps the RFC 7440 windowsize a client may negotiate.
	WindowSizeMax int
	// WindowBytesMax caps windowsize × blksize, so a window never overflows a small
	// receiver's socket buffer (where every loss would cost a full timeout). Negative means
	// no cap.
	WindowBytesMax int
	// BlockSizeMax caps blksize below the interface MTU limit; it also sizes the packet
	// buffers (BlockSizeMax+4 bytes each).
	BlockSizeMax int
	// Timeout is the first retransmission timeout when the client did not ask for one;
	// each further retry doubles it (up to 64×, at most 30 s).
	Timeout time.Duration
	// Retries is how many retransmissions of the same packet are made before the transfer
	// is abandoned.
	Retries int
	// IdleTimeout drops a transfer that made no progress for this long, whatever else the
	// client sends; progress is at least progressBlocks new blocks acknowledged (or the
	// end of the file), so a client acknowledging one block now and then cannot hold a
	// slot forever. It also bounds every wait, whatever timeout the client asked for, and
	// how long a queued request lives without being repeated.
	IdleTimeout time.Duration
	// Logger receives one line per finished transfer and per refused request; per-packet
	// detail at debug level. Nil logs nothing.
	Logger *slog.Logger
	// Events receives TransferStarted/Progress/Done/Failed (Proto "tftp"). Nil is fine.
	Events *events.Bus

	// listen, when set, opens every transfer socket instead of listenTransfer; tests use
	// it to put a lossy double in the path.
	listen func(local netip.Addr) (packetConn, error)

	initOnce sync.Once

	mu        sync.Mutex
	bufs      bufPool // one packet buffer per running transfer
	serving   int     // running Serve calls; the buffers' slab is released at 0
	listeners map[*net.UDPConn]struct{}
	active    map[activeKey]struct{} // running transfers
	perClient map[netip.Addr]int     // running transfers by client address
	queue     waitQueue              // requests waiting for a slot
	silent    silentSet              // addresses whose last transfer went unanswered
	closing   bool
	transfers sync.WaitGroup
	abortCtx  context.Context
	abort     context.CancelFunc
}

// activeKey identifies a running transfer for duplicate-request detection.
type activeKey struct {
	client netip.AddrPort
	file   string
}

// packetConn is the part of *net.UDPConn a transfer uses.
type packetConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	SetReadDeadline(t time.Time) error
	Close() error
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.MaxTransfers <= 0 {
			s.MaxTransfers = DefaultMaxTransfers
		}
		if s.WindowSizeMax <= 0 {
			s.WindowSizeMax = DefaultWindowSizeMax
		}
		if s.WindowBytesMax == 0 {
			s.WindowBytesMax = DefaultWindowBytesMax
		}
		if s.BlockSizeMax <= 0 || s.BlockSizeMax > MaxBlockSize {
			s.BlockSizeMax = DefaultBlockSizeMax
		}
		s.BlockSizeMax = max(s.BlockSizeMax, DefaultBlockSize)
		if s.Timeout <= 0 {
			s.Timeout = DefaultTimeout
		}
		if s.Retries <= 0 {
			s.Retries = DefaultRetries
		}
		if s.IdleTimeout <= 0 {
			s.IdleTimeout = DefaultIdleTimeout
		}
		if s.MaxPerClient == 0 {
			s.MaxPerClient = max(1, s.MaxTransfers/2)
		}
		if s.MaxPerClient < 0 {
			s.MaxPerClient = s.MaxTransfers
		}
		if s.MaxQueued == 0 {
			s.MaxQueued = DefaultMaxQueued
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.bufs = bufPool{n: s.MaxTransfers, size: s.BlockSizeMax + 4}
		s.listeners = make(map[*net.UDPConn]struct{})
		s.active = make(map[activeKey]struct{})
		s.perClient = make(map[netip.Addr]int)
		s.queue.init(max(s.MaxQueued, 0))
		s.silent.init(silentMax)
		s.abortCtx, s.abort = context.WithCancel(context.Background())
	})
}

// unmap turns an IPv4 sender seen on a dual-stack socket (::ffff:a.b.c.d) back into IPv4,
// the form every client address of a transfer takes.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func listenUDP(local netip.Addr) (packetConn, error) {
	network := "udp4"
	if local.Is6() {
		network = "udp6"
	}
	if !local.IsValid() {
		network = "udp"
	}
	return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
}

// ListenAndServe listens on addr (host:port, e.g. ":69" or "10.0.0.1:69") and serves until
// ctx is cancelled or Shutdown is called.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	// PXE is IPv4: a host-less address listens on IPv4 only, which also keeps packet info
	// in IPv4 form. An explicit IPv6 address (including "[::]") listens on IPv6.
	network := "udp4"
	if ua.IP != nil && ua.IP.To4() == nil {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, ua)
	if err != nil {
		return err
	}
	defer conn.Close()
	return s.Serve(ctx, conn)
}

// Serve answers requests arriving on conn until ctx is cancelled (running transfers are
// aborted, and Serve returns nil once they have ended) or Shutdown is called (Serve returns
// ErrServerClosed at once; Shutdown lets transfers finish). Serve does not close conn.
func (s *Server) Serve(ctx context.Context, conn *net.UDPConn) error {
	if s.Source == nil {
		return errors.New("tftp: Server.Source is nil")
	}
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[conn] = struct{}{}
	s.serving++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, conn)
		if s.serving--; s.serving == 0 {
			s.bufs.release()
		}
		s.mu.Unlock()
	}()

	// Transfers of this Serve stop when ctx ends, unless Shutdown took them over.
	tctx, tcancel := context.WithCancel(s.abortCtx)
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	pi := newPacketInfoReader(conn)
	var buf [2048]byte
	var oob [128]byte
	for {
		n, oobn, flags, from, err := conn.ReadMsgUDPAddrPort(buf[:], oob[:])
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			switch {
			case closing:
				go func() { wg.Wait(); tcancel() }()
				return ErrServerClosed
			case ctx.Err() != nil:
				tcancel()
				s.dropQueuedOf(&wg)
				wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			tcancel()
			s.dropQueuedOf(&wg)
			wg.Wait()
			return fmt.Errorf("tftp: read request: %w", err)
		}
		local, ifindex := pi.parse(oob[:oobn])
		from = unmap(from)
		if !local.IsValid() {
			local = pi.fallback
		}
		if flags&msgTrunc != 0 {
			s.Logger.Info("tftp refused", "client", from, "err", "request larger than 2048 bytes")
			s.refuse(local, from, ErrIllegalOperation, "request too long")
			continue
		}
		s.dispatch(tctx, &wg, buf[:n], from, local, ifindex)
	}
}

// dispatch parses one request and starts its transfer, or queues it when no slot is free.
func (s *Server) dispatch(ctx context.Context, wg *sync.WaitGroup, b []byte, from netip.AddrPort, local netip.Addr, ifindex int) {
	req, err := ParseRequest(b)
	if err != nil {
		s.Logger.Info("tftp refused", "client", from, "err", err)
		s.refuse(local, from, ErrIllegalOperation, "malformed request")
		return
	}
	w := &waiting{key: activeKey{from, req.Filename}, req: req, local: local, ifindex: ifindex, ctx: ctx, wg: wg}
	now := time.Now()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock() // Shutdown has emptied the queue; nothing may join it
		return
	}
	if _, dup := s.active[w.key]; dup {
		s.mu.Unlock()
		// The Pi 4 re-sends its RRQ every 2 s from the same port while a transfer runs
		// (and a network may duplicate it): the running transfer retransmits on its own.
		// A request for another file from the same port is new: the Pi probes a file,
		// ends it with ERROR 0 and asks for the next one from the same port.
		s.Logger.Debug("tftp duplicate request ignored", "client", from, "file", req.Filename)
		return
	}
	if s.queue.refresh(w.key, now) {
		s.mu.Unlock()
		s.Logger.Debug("tftp repeated request of a queued one", "client", from, "file", req.Filename)
		return
	}
	// While a slot is free every queued request is waiting for its own client's cap, so a
	// request that may start now overtakes nobody.
	if s.canStart(from.Addr()) {
		buf := s.bufs.get() // canStart saw a free slot
		s.begin(w)
		s.mu.Unlock()
		go s.run(w, buf)
		return
	}
	queued := s.queue.push(w, now, s.IdleTimeout, s.dropQueued)
	if queued {
		w.wg.Add(1)
		s.transfers.Add(1)
	}
	n := s.queue.len()
	s.mu.Unlock()
	if queued {
		s.Logger.Debug("tftp request queued", "client", from, "file", req.Filename, "queued", n)
	} else {
		// No answer: the client retransmits its request and may find room then.
		s.Logger.Debug("tftp request dropped, queue full", "client", from, "file", req.Filename, "queued", n)
	}
}

// canStart reports whether a transfer for client may start now. s.mu is held.
func (s *Server) canStart(client netip.Addr) bool {
	return len(s.active) < s.MaxTransfers && s.perClient[client] < s.MaxPerClient
}

// begin counts w as running. s.mu is held.
func (s *Server) begin(w *waiting) {
	s.active[w.key] = struct{}{}
	s.perClient[w.key.client.Addr()]++
	w.wg.Add(1)
	s.transfers.Add(1)
}

// end stops counting w as running. s.mu is held.
func (s *Server) end(w *waiting) {
	delete(s.active, w.key)
	a := w.key.client.Addr()
	if s.perClient[a]--; s.perClient[a] <= 0 {
		delete(s.perClient, a)
	}
	w.wg.Done()
	s.transfers.Done()
}

// run serves w with buf, then whichever queued requests the freed slot can take, and
// gives buf back when none can.
func (s *Server) run(w *waiting, buf []byte) {
	for w != nil {
		s.serveOne(w, buf)
		s.mu.Lock()
		s.end(w)
		now := time.Now()
		w = s.queue.next(now, s.closing, s.canStart, func(a netip.Addr) bool { return s.silent.has(a, now) }, s.dropQueued)
		if w != nil {
			s.begin(w)
			w.wg.Done() // queued requests were counted when queued
			s.transfers.Done()
		} else {
			s.bufs.put(buf)
			if s.serving == 0 {
				s.bufs.release() // the last transfer after Shutdown
			}
		}
		s.mu.Unlock()
	}
}

// dropQueued forgets a queued request that will never start. s.mu is held.
func (s *Server) dropQueued(w *waiting) {
	w.wg.Done()
	s.transfers.Done()
}

// dropQueuedOf forgets the queued requests of the Serve that counts them in wg, which is
// returning.
func (s *Server) dropQueuedOf(wg *sync.WaitGroup) {
	s.mu.Lock()
	s.queue.dropIf(func(w *waiting) bool { return w.wg == wg }, s.dropQueued)
	s.mu.Unlock()
}

// serveOne runs one request; a panic in it is logged and ends only that transfer (its
// deferred closes run while the panic unwinds).
func (s *Server) serveOne(w *waiting, buf []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.Logger.Error("tftp transfer panicked", "client", w.key.client, "file", w.req.Filename, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	s.handle(w.ctx, w.req, buf, w.key.client, w.local, w.ifindex)
}

// refuse sends an ERROR from a fresh port (the server's side of a new transfer id, as
// RFC 1350 wants for every reply to a request).
func (s *Server) refuse(local netip.Addr, to netip.AddrPort, code ErrorCode, msg string) {
	c, err := s.openConn(local, true)
	if err != nil {
		s.Logger.Warn("tftp: cannot open reply socket", "local", local, "err", err)
		return
	}
	defer c.Close()
	var b [128]byte
	_, _ = c.WriteToUDPAddrPort(AppendError(b[:0], code, msg), to)
}

// openConn opens a transfer socket on local, falling back to any local address when
// local cannot be bound (a subnet broadcast destination, an address that just went away).
// blocking asks for a socket served by blocking system calls (see sysConn).
func (s *Server) openConn(local netip.Addr, blocking bool) (packetConn, error) {
	open := func(a netip.Addr) (packetConn, error) {
		if s.listen != nil {
			return s.listen(a)
		}
		return listenTransfer(a, blocking)
	}
	c, err := open(local)
	if err != nil && local.IsValid() {
		c, err = open(netip.Addr{})
	}
	return c, err
}

// Shutdown stops accepting requests, waits for running transfers to finish until ctx ends,
// then aborts the rest. It returns ctx's error if it had to abort.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	s.queue.dropAll(s.dropQueued)
	for c := range s.listeners {
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.transfers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abort()
		<-done
		return ctx.Err()
	}
}

// Active returns the number of running transfers.
func (s *Server) Active() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Queued returns the number of requests waiting for a transfer slot.
func (s *Server) Queued() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.len()
}

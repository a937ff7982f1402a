package tftp

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// handle runs one request from its arrival to the last ACK.
func (s *Server) handle(ctx context.Context, req *RequestPacket, buf []byte, from netip.AddrPort, local netip.Addr, ifindex int) {
	log := s.Logger
	if req.Op == OpWRQ {
		log.Info("tftp refused", "client", from, "file", req.Filename, "op", "WRQ", "err", "read-only server")
		s.refuse(local, from, ErrAccessViolation, "read-only server")
		return
	}
	if req.Mode != "octet" && req.Mode != "netascii" {
		log.Info("tftp refused", "client", from, "file", req.Filename, "mode", req.Mode, "err", "unsupported mode")
		s.refuse(local, from, ErrIllegalOperation, "unsupported mode")
		return
	}
	p, err := CleanPath(req.Filename)
	if err != nil {
		log.Info("tftp refused", "client", from, "file", req.Filename, "err", err)
		s.refuse(local, from, ErrAccessViolation, "access violation")
		return
	}
	r := &Request{Path: p, Client: from, Local: local, Mode: req.Mode}
	f, err := s.Source.Open(r)
	if err != nil {
		code, msg := ErrUndefined, "cannot open file"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			code, msg = ErrFileNotFound, "file not found"
		case errors.Is(err, fs.ErrPermission):
			code, msg = ErrAccessViolation, "access violation"
		}
		log.Info("tftp refused", "client", from, "file", p, "code", int(code), "err", err)
		s.refuse(local, from, code, msg)
		return
	}
	defer f.Close()
	var file File = f
	size := int64(-1) // unknown until the translation reaches the end (netascii)
	if req.Mode == "netascii" {
		na := newNetascii(f)
		if asksTsize(req.Options) {
			// Only tsize needs the translated size before the first block: one pass,
			// which leaves its checkpoints behind for the transfer.
			if size, err = na.scanSize(); err != nil {
				log.Info("tftp refused", "client", from, "file", p, "err", err)
				s.refuse(local, from, ErrUndefined, "read error")
				return
			}
		}
		file = na
	} else {
		size = f.Size()
	}

	blkMax := min(s.BlockSizeMax, len(buf)-4)
	if mtu := interfaceMTU(ifindex); mtu > 0 {
		overhead := 32 // IPv4 20 + UDP 8 + TFTP 4
		if local.Is6() && !local.Is4In6() {
			overhead = 52
		}
		blkMax = min(blkMax, mtu-overhead)
	}
	neg := Negotiate(req.Options, Limits{
		BlockSizeMax:   blkMax,
		WindowSizeMax:  s.WindowSizeMax,
		WindowBytesMax: max(s.WindowBytesMax, 0),
		FileSize:       size,
	})

	// Blocking sockets while every transfer can have a P of its own; the poller beyond.
	s.mu.Lock()
	blocking := len(s.active) <= runtime.GOMAXPROCS(0)
	s.mu.Unlock()
	conn, err := s.openConn(local, blocking)
	if err != nil {
		log.Warn("tftp: cannot open transfer socket", "client", from, "local", local, "err", err)
		return
	}
	defer conn.Close()
	var onStray func(netip.AddrPort)
	if log.Enabled(ctx, slog.LevelDebug) {
		onStray = func(stray netip.AddrPort) {
			log.Debug("tftp packet from unknown transfer id", "client", from, "from", stray)
		}
	}
	connectTransfer(conn, from, onStray)
	stop := context.AfterFunc(ctx, func() { abortConn(conn) })
	defer stop()

	t := &transfer{
		s:       s,
		ctx:     ctx,
		conn:    conn,
		client:  from,
		file:    file,
		size:    size,
		blksize: int64(neg.BlockSize),
		window:  int64(neg.WindowSize),
		timeout: s.Timeout,
		retries: s.Retries,
		idle:    s.IdleTimeout,
		buf:     buf,
		oack:    neg.OACK,
		debug:   log.Enabled(ctx, slog.LevelDebug),
		log:     log,
		ev: events.Event{
			Proto:   "tftp",
			ID:      s.Events.NextID(),
			Client:  from,
			File:    p,
			Total:   max(size, 0),
			Options: neg.String(),
		},
	}
	if neg.Timeout > 0 {
		// The client's timeout (up to 255 s) paces retransmissions; IdleTimeout still
		// bounds every wait (run).
		t.timeout = neg.Timeout
	}
	t.start = time.Now()
	ev := t.ev
	ev.Kind = events.TransferStarted
	s.Events.Publish(ev)

	err = t.run()
	t.finish(err)
	s.noteAnswered(from.Addr(), !errors.Is(err, errSilent))
}

// abortConn ends a transfer's socket from another goroutine: it wakes a blocked read.
func abortConn(c packetConn) {
	if a, ok := c.(interface{ abort() }); ok {
		a.abort()
		return
	}
	_ = c.Close() // *net.UDPConn: Close is safe under a concurrent read
}

// asksTsize reports whether the request carries a tsize option.
func asksTsize(opts []Option) bool {
	for _, o := range opts {
		if strings.EqualFold(o.Name, "tsize") {
			return true
		}
	}
	return false
}

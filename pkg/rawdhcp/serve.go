package rawdhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// Handler answers DHCP messages. req and info are owned by the serve loop and reused after
// ServeDHCP returns: copy what must outlive the call.
type Handler interface {
	ServeDHCP(w ResponseWriter, req *Message, info *PacketInfo)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w ResponseWriter, req *Message, info *PacketInfo)

// ServeDHCP calls f.
func (f HandlerFunc) ServeDHCP(w ResponseWriter, req *Message, info *PacketInfo) { f(w, req, info) }

// ResponseWriter sends replies to the request being handled.
type ResponseWriter interface {
	// NewReply returns a reply message owned by the serve loop, initialised with
	// InitReply(req, typ). Using it instead of a fresh Message keeps the reply path free of
	// allocations. It is valid until ServeDHCP returns; each call resets it.
	NewReply(typ MessageType) *Message
	// Reply sends resp addressed per RFC 2131 §4.1 for the request (see Conn.Reply). It may
	// be called more than once, and not after ServeDHCP returned.
	Reply(resp *Message) error
}

// Server runs a serve loop with settings; Serve is the shortcut with defaults.
type Server struct {
	Handler Handler
	// Workers is the number of handler goroutines (default 1). Messages are spread over
	// them by client hardware address, so one client's messages are handled in order.
	// More than one lets a handler that waits (for a durable lease write) overlap with
	// others.
	Workers int
	// Logger gets debug lines about dropped packets (each kind at most once per ten
	// seconds, with a count of those held back) and errors; nil discards.
	Logger *slog.Logger
}

// Serve reads messages from c and hands them to h until ctx is done (then it returns nil)
// or the Conn fails for good. Malformed and foreign packets are counted in c.Stats and
// dropped; a handler panic is recovered, counted and logged.
func Serve(ctx context.Context, c *Conn, h Handler) error {
	return (&Server{Handler: h}).Serve(ctx, c)
}

type slot struct {
	req  Message
	info PacketInfo
	w    writer
}

type writer struct {
	c    *Conn
	req  *Message
	info *PacketInfo
	resp Message
}

func (w *writer) NewReply(typ MessageType) *Message {
	w.resp.InitReply(w.req, typ)
	return &w.resp
}

func (w *writer) Reply(resp *Message) error { return w.c.Reply(resp, w.req, w.info) }

// queueDepth is how many read messages may wait per worker; with Workers slots busy this
// bounds the memory of the loop to (queueDepth+1)·Workers messages.
const queueDepth = 4

// Serve runs the loop on c; see the package function Serve.
func (s *Server) Serve(ctx context.Context, c *Conn) error {
	if s.Handler == nil {
		return errors.New("rawdhcp: Serve needs a Handler")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	drops := &DropLog{Every: dropLogEvery}
	n := max(s.Workers, 1)
	slots := make([]slot, n*(queueDepth+1))
	free := make(chan *slot, len(slots))
	for i := range slots {
		sl := &slots[i]
		sl.w = writer{c: c, req: &sl.req, info: &sl.info}
		free <- sl
	}
	queues := make([]chan *slot, n)
	var wg sync.WaitGroup
	for i := range queues {
		q := make(chan *slot, queueDepth)
		queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sl := range q {
				s.handle(c, sl, log)
				free <- sl
			}
		}()
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()

	// A previous Serve may have left the deadline in the past.
	_ = c.SetReadDeadline(time.Time{})
	// Wake the blocked read when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	backoff := time.Duration(0)
	for {
		var sl *slot
		select {
		case sl = <-free:
		case <-ctx.Done():
			return nil
		}
		err := c.ReadMessage(&sl.req, &sl.info)
		if err != nil {
			free <- sl
			if ctx.Err() != nil {
				return nil
			}
			switch {
			case errors.Is(err, ErrMalformed):
				drops.Log(log, slog.LevelDebug, time.Now(), "rawdhcp: dropped malformed packet", "err", err)
				continue
			case errors.Is(err, ErrForeign):
				continue
			case errors.Is(err, net.ErrClosed):
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Transient socket errors (interface going down, buffer pressure): log, back
			// off a little, and keep serving.
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			log.Warn("rawdhcp: read failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		if !wantOp(&sl.req, &sl.info) {
			c.stats.foreign.Add(1)
			drops.Log(log, slog.LevelDebug, time.Now(), "rawdhcp: dropped foreign packet", "op", sl.req.Op, "src", sl.info.Src, "dst", sl.info.Dst)
			free <- sl
			continue
		}
		q := queues[0]
		if n > 1 {
			q = queues[shard(&sl.req, n)]
		}
		// Never wait for a full queue: a worker stuck on a slow disk or a probe would stall
		// every other client's messages behind this read. Its clients retransmit.
		select {
		case q <- sl:
		default:
			c.stats.queueFull.Add(1)
			drops.Log(log, slog.LevelDebug, time.Now(), "rawdhcp: dropped a message, its worker's queue is full", "chaddr", MAC(sl.req.CHAddr[:6]))
			free <- sl
		}
	}
}

// wantOp checks that the BOOTP op fits the port: requests to the server ports, replies
// (other servers', for rogue detection) only to the client port.
func wantOp(m *Message, info *PacketInfo) bool {
	if info.Dst.Port() == ClientPort {
		return m.Op == BootReply
	}
	return m.Op == BootRequest
}

func shard(m *Message, n int) int {
	// FNV-1a over chaddr: cheap and stable.
	h := uint32(2166136261)
	for _, b := range m.CHAddr[:6] {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % uint32(n))
}

func (s *Server) handle(c *Conn, sl *slot, log *slog.Logger) {
	c.stats.handled.Add(1)
	defer func() {
		if r := recover(); r != nil {
			c.stats.panics.Add(1)
			log.Error("rawdhcp: handler panicked", "panic", fmt.Sprint(r), "chaddr", MAC(sl.req.CHAddr[:6]), "stack", string(debug.Stack()))
		}
	}()
	s.Handler.ServeDHCP(&sl.w, &sl.req, &sl.info)
}

package dhcpd

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Replier sends a reply after ServeDHCP has returned; *rawdhcp.Conn implements it.
type Replier interface {
	Reply(resp, req *rawdhcp.Message, info *rawdhcp.PacketInfo) error
}

// SetReplier lets the server finish requests that wait on goroutines of their own (a
// DISCOVER whose address needs an ARP probe, a REQUEST whose new lease must reach the disk
// first), so that neither wait holds up the serve loop's workers, and concurrent new leases
// share one fsync. Pass the *rawdhcp.Conn the server is served on. Without a Replier they
// wait inline; SetReplier(nil) goes back to that (before the Conn is closed).
func (s *Server) SetReplier(r Replier) {
	if r == nil {
		s.replier.Store(nil)
		return
	}
	s.replier.Store(&r)
}

// maxDeferred bounds the requests finishing on their own goroutines at once (DISCOVERs
// waiting for an ARP probe, REQUESTs waiting for their lease's durable write); beyond it
// they are finished inline (back-pressure on the serve loop instead of unbounded
// goroutines).
const maxDeferred = 128

type deferKey struct{}
type rerunKey struct{}

// msgPool recycles the copies of deferred requests.
var msgPool = sync.Pool{New: func() any { return new(rawdhcp.Message) }}

// respPool recycles reply messages for deferred requests.
var respPool = sync.Pool{New: func() any { return new(rawdhcp.Message) }}

// ServeDHCP implements rawdhcp.Handler: requests to port 67 and 4011 are answered. The
// boot decision is made once, in Handle's logic, and travels with the reply to the event
// and the log line.
func (s *Server) ServeDHCP(w rawdhcp.ResponseWriter, req *rawdhcp.Message, info *rawdhcp.PacketInfo) {
	port := info.Dst.Port()
	if port == rawdhcp.ClientPort {
		return // another server's reply; the rogue watch has its own socket
	}
	// The serve loop's reply storage; Handle re-initialises it for the reply it builds.
	resp := w.NewReply(rawdhcp.Ack)
	ctx := s.baseCtx()
	rp := s.replier.Load()
	if rp != nil {
		ctx = s.deferCtx
	}
	var d boot.Decision
	r := s.handle(ctx, req, port, resp, &d)
	if r == replyDeferred {
		select {
		case s.deferSem <- struct{}{}:
			s.deferProbe(*rp, req, info, port)
			return
		default:
			r = s.handle(s.rerunCtx, req, port, resp, &d)
		}
	}
	if r == NoReply {
		return
	}
	if err := w.Reply(resp); err != nil {
		s.drops.Log(s.log, slog.LevelWarn, s.now(), "dhcp: reply not sent", "type", r.String(), "mac", macString(req.MAC()), "err", err)
		return
	}
	s.obs.sent(r, req, resp, &d)
	s.obs.logReply(r, req, port, resp, &d)
}

// deferProbe finishes a request that waits (a DISCOVER for an ARP probe, a REQUEST for
// its lease's durable write) on its own goroutine, with copies of the request and its
// packet info (the serve loop reuses both).
func (s *Server) deferProbe(rp Replier, req *rawdhcp.Message, info *rawdhcp.PacketInfo, port uint16) {
	cp := msgPool.Get().(*rawdhcp.Message)
	opts := cp.Options
	*cp = *req
	cp.Options = opts
	cp.Options.CopyFrom(&req.Options)
	ci := *info
	if t, _ := req.MessageType(); t == rawdhcp.Request {
		s.debug("dhcp: durable lease write on its own goroutine", "mac", macString(req.MAC()))
	} else {
		s.debug("dhcp: ARP probe on its own goroutine", "mac", macString(req.MAC()))
	}
	s.wg.Add(1)
	go func() {
		defer func() {
			msgPool.Put(cp)
			<-s.deferSem
			s.wg.Done()
		}()
		// The serve loop recovers its handler's panics; this goroutine is ours to guard,
		// or one bad request would end the process.
		defer func() {
			if v := recover(); v != nil {
				s.st.panics.Add(1)
				s.log.Error("dhcp: deferred request handler panicked", "panic", fmt.Sprint(v), "mac", macString(cp.MAC()), "stack", string(debug.Stack()))
			}
		}()
		resp := respPool.Get().(*rawdhcp.Message)
		defer respPool.Put(resp)
		var d boot.Decision
		r := s.handle(s.rerunCtx, cp, port, resp, &d)
		if r == NoReply || r == replyDeferred {
			return
		}
		if err := rp.Reply(resp, cp, &ci); err != nil {
			s.drops.Log(s.log, slog.LevelWarn, s.now(), "dhcp: reply not sent", "type", r.String(), "mac", macString(cp.MAC()), "err", err)
			return
		}
		s.obs.sent(r, cp, resp, &d)
		s.obs.logReply(r, cp, port, resp, &d)
	}()
}

func (s *Server) baseCtx() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}

package dhcpd

import (
	"context"
	"time"
)

// commitDeadline is a context that bounds the lease commits started until `until`: its
// deadline is CommitTimeout after that, so each of them gets between CommitTimeout and
// CommitTimeout + commitShare to reach the disk.
type commitDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // releases the timer early; the deadline or Close end it anyway
	until  time.Time
}

// commitShare is how long one commit deadline is shared: a context with a timer per
// commit would be most of the allocations of a new lease.
const commitShare = 100 * time.Millisecond

// commitContext returns the context a lease commit made under ctx waits with, and its
// cancel function. Requests served by ServeDHCP (ctx ends only with the server) share a
// deadline context; any other ctx gets its own timeout.
func (s *Server) commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.ctx == nil || ctx.Done() != s.ctx.Done() {
		return context.WithTimeout(ctx, s.cfg.CommitTimeout)
	}
	now := time.Now()
	if d := s.commitCtx.Load(); d != nil && now.Before(d.until) {
		return d.ctx, func() {}
	}
	// The context ends by its deadline or with the server (Close); nobody cancels it
	// earlier, since commits still running may share it.
	c, cancel := context.WithDeadline(s.ctx, now.Add(commitShare+s.cfg.CommitTimeout))
	s.commitCtx.Store(&commitDeadline{ctx: c, cancel: cancel, until: now.Add(commitShare)})
	return c, func() {}
}

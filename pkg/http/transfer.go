package httpd

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// progressEvery rate-limits TransferProgress events per download (DESIGN: at most every
// 250 ms).
const progressEvery = 250 * time.Millisecond

// transfer publishes the events of one HTTP download. A nil *transfer does nothing, so the
// writer needs no checks for small files and HEAD requests.
type transfer struct {
	bus     *events.Bus
	ev      events.Event // template: ID, Proto, Client, MAC, File, Total
	start   time.Time
	done    int64
	lastPub time.Time
	active  *int64Gauge
}

func (s *Server) startTransfer(r *http.Request, file string, total int64) *transfer {
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	t := &transfer{
		bus:    s.cfg.Events,
		start:  time.Now(),
		active: &s.met.transfersActive,
		ev: events.Event{
			ID: s.cfg.Events.NextID(), Proto: "http", Client: client, File: file, Total: total,
			MAC: s.macOf(client.Addr()),
		},
	}
	t.lastPub = t.start
	t.active.add(1)
	e := t.ev
	e.Kind, e.Time = events.TransferStarted, t.start
	t.bus.Publish(e)
	return t
}

func (t *transfer) add(n int64) {
	if t == nil || n <= 0 {
		return
	}
	t.done += n
	now := time.Now()
	if now.Sub(t.lastPub) < progressEvery || t.done >= t.ev.Total {
		return
	}
	t.lastPub = now
	e := t.ev
	e.Kind, e.Time, e.Bytes, e.Duration = events.TransferProgress, now, t.done, now.Sub(t.start)
	t.bus.Publish(e)
}

// finish publishes TransferDone when every promised byte left, else TransferFailed (the
// client went away or stalled).
func (t *transfer) finish() {
	if t == nil {
		return
	}
	t.active.add(-1)
	now := time.Now()
	e := t.ev
	e.Time, e.Bytes, e.Duration = now, t.done, now.Sub(t.start)
	if t.done >= t.ev.Total {
		e.Kind = events.TransferDone
	} else {
		e.Kind, e.Err = events.TransferFailed, "client closed the connection early"
	}
	t.bus.Publish(e)
}

// macOf asks the daemon which MAC owns ip, for events and the dashboard.
func (s *Server) macOf(ip netip.Addr) string {
	if s.cfg.Clients == nil {
		return ""
	}
	if ci, ok := s.cfg.Clients.Client(ip); ok {
		return ci.MAC
	}
	return ""
}

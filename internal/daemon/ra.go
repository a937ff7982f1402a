package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// iPXE's autoconfiguration waits for an IPv6 router advertisement after its DHCP is done;
// on a link without an IPv6 router that wait is most of an iPXE boot. The RA service ends it
// for clients known to be iPXE, and only for them (docs/bench/ipxe-ra.md).
const (
	// raMaxClients bounds the allow list; a lab has far fewer iPXE clients at a time.
	raMaxClients = 1024
	// raClientTTL is how long a client stays allowed after its last iPXE DHCP reply. iPXE
	// solicits while its DHCP runs and stops at the first answer, and every later `dhcp`
	// or `ifconf` of a script brings a new reply; a short window keeps the operating system
	// iPXE boots (same MAC, no longer iPXE) from being answered.
	raClientTTL = 2 * time.Minute
	// raRetry is the wait before the socket is opened again after it failed or the
	// interface vanished.
	raRetry = 2 * time.Second
	// raEventBuffer is the bus subscription's buffer: a burst of DHCP replies must not
	// drop the one that allows a client.
	raEventBuffer = 256
)

// raService answers the router solicitations of iPXE clients on the managed interface. It
// learns which clients are iPXE from DHCP events on the bus: it never sits in the DHCP
// path.
type raService struct {
	ifname string
	log    *slog.Logger
	bus    *events.Bus
	allow  *rawdhcp.AllowList
	conn   atomic.Pointer[rawdhcp.RAConn]
	// listen opens the socket (rawdhcp.ListenRA on ifname).
	listen func() (*rawdhcp.RAConn, error)

	run         runner
	unsubscribe func()
	fed         chan struct{} // closed when feed returns
}

func newRAService(ifname string, bus *events.Bus, log *slog.Logger) *raService {
	s := &raService{ifname: ifname, log: log, bus: bus,
		allow: rawdhcp.NewAllowList(raMaxClients, raClientTTL)}
	s.listen = func() (*rawdhcp.RAConn, error) {
		return rawdhcp.ListenRA(s.ifname, &rawdhcp.RAConfig{Allow: s.allow, Logger: s.log})
	}
	return s
}

func (s *raService) Name() string { return "RA" }

// Start opens the socket in the background (retrying while the interface is missing) and
// follows DHCP events on the bus.
func (s *raService) Start(ctx context.Context) error {
	evs, unsubscribe := s.bus.Subscribe(raEventBuffer)
	s.unsubscribe = unsubscribe
	s.fed = make(chan struct{})
	go func() {
		defer close(s.fed)
		s.feed(evs)
	}()
	s.run.start(ctx, s.serve)
	return nil
}

func (s *raService) Reload() error { return nil }

// Stop closes the socket and ends the bus subscription.
func (s *raService) Stop(context.Context) {
	s.run.stop()
	s.unsubscribe() // closes evs, which ends feed
	<-s.fed
}

// raOn reports whether the RA service runs: only where DHCP runs on an interface the daemon
// was given (the only way to learn who is iPXE, and the only link it may speak on).
func (d *Daemon) raOn() bool { return d.cfg.IPXERA && d.dhcpOn() && d.ifname != "" }

// newRA is the RA service on the managed interface.
func (d *Daemon) newRA() *raService { return newRAService(d.ifname, d.bus, d.logs.For("dhcp")) }

// feed puts every client that got a DHCP reply as iPXE on the allow list, until evs is
// closed.
func (s *raService) feed(evs <-chan events.Event) {
	for e := range evs {
		if e.Kind != events.DHCP || e.MAC == "" {
			continue
		}
		hw, err := net.ParseMAC(e.MAC)
		if err != nil || len(hw) != 6 {
			continue
		}
		// The event carries the boot decision its reply was built from.
		if !strings.HasPrefix(e.Machine.Kind, boot.KindIPXE) {
			continue
		}
		mac := rawdhcp.MAC(hw)
		if c := s.conn.Load(); c != nil {
			c.Allow(mac) // answers a solicitation that came before the DHCP reply
		} else {
			s.allow.Add(mac, time.Now())
		}
	}
}

// serve keeps a socket open on the interface until ctx ends, opening it again when it
// fails or the interface was re-created.
func (s *raService) serve(ctx context.Context) {
	logged := false
	for ctx.Err() == nil {
		c, err := s.listen()
		if err != nil {
			if !logged {
				s.log.Warn("iPXE router advertisements: cannot open the socket; retrying", "iface", s.ifname, "err", err)
				logged = true
			}
		} else {
			logged = false
			s.conn.Store(c)
			s.log.Info("answering iPXE router solicitations", "iface", s.ifname, "from", c.Source())
			err = c.Serve(ctx)
			s.conn.Store(nil)
			c.Close()
			if err != nil && ctx.Err() == nil {
				if errors.Is(err, rawdhcp.ErrInterfaceGone) {
					s.log.Info("iPXE router advertisements: interface gone; reopening", "iface", s.ifname)
				} else {
					s.log.Warn("iPXE router advertisements: socket failed; reopening", "iface", s.ifname, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(raRetry):
		}
	}
}

package daemon

import (
	"context"
	"os"
	"runtime"

	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/netif"
)

// setupLink opens the managed interface, sets it up and makes sure the server address is on
// it. CAP_NET_ADMIN is asked for only when something has to change.
func (d *Daemon) setupLink() error {
	i, err := netif.Open(d.ifname, d.cfg.Prefix(), d.llog)
	if err != nil {
		return err
	}
	st, err := i.State()
	if err != nil {
		return err
	}
	has := false
	for _, p := range st.Addrs {
		if p.Addr() == d.cfg.DHCPServerIP {
			has = true
		}
	}
	if !st.Up || !has {
		if err := requireCaps(capNetAdmin); err != nil {
			return err
		}
	}
	if err := i.Up(); err != nil {
		return err
	}
	added, err := i.EnsureAddr()
	if err != nil {
		return err
	}
	d.iface = i
	if !added {
		d.llog.Info("server address already on the interface; it will be left there at exit", "iface", d.ifname, "addr", d.cfg.DHCPServerIP)
	}
	return nil
}

// superviseLink follows the carrier until ctx ends: on loss DHCP pauses (TFTP and HTTP go
// on: transfers to clients on other links, or ones that resume, are not cut); on return the
// address is re-added if it vanished, auto mode detects again, and DHCP resumes. An address
// removed while the cable stays in is put back at once.
func (d *Daemon) superviseLink(ctx context.Context) {
	evs := make(chan netif.Event, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		err := d.iface.Watch(ctx, func(e netif.Event) {
			select {
			case evs <- e:
			case <-ctx.Done():
			}
		})
		if err != nil {
			d.llog.Error("link watch failed; carrier changes are no longer followed", "err", err)
		}
	}()
	defer func() { <-watchDone }()

	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-evs:
			had := d.carrier.Load()
			switch {
			case e.Carrier && (!had || first):
				d.carrier.Store(true)
				if !first {
					d.llog.Info("carrier back", "iface", d.ifname)
				}
				if _, err := d.iface.EnsureAddr(); err != nil {
					d.llog.Error("could not restore the server address", "iface", d.ifname, "err", err)
				}
				d.bus.Publish(events.Event{Kind: events.LinkChanged, Msg: "up"})
				if svc := d.dhcpSvc(); svc != nil {
					svc.resume(ctx)
				}
				d.updateStatus()
				d.logRuntime("link up")
			case !e.Carrier && (had || first):
				d.carrier.Store(false)
				d.bus.Publish(events.Event{Kind: events.LinkChanged, Msg: "down"})
				if first {
					d.llog.Info("waiting for a cable: no carrier", "iface", d.ifname)
				} else if d.dhcpSvc() != nil {
					d.llog.Warn("carrier lost: DHCP paused until the cable is back", "iface", d.ifname)
				} else {
					d.llog.Warn("carrier lost", "iface", d.ifname)
				}
				if svc := d.dhcpSvc(); svc != nil {
					svc.pause()
				}
				d.updateStatus()
				d.logRuntime("link down")
			case e.Carrier && !e.Addr && !first:
				// Someone removed the server address with the cable in: clients could no
				// longer reach TFTP/HTTP, and our replies would name an address we lack.
				d.llog.Warn("server address removed from the interface; restoring it", "iface", d.ifname, "addr", d.cfg.Prefix())
				if _, err := d.iface.EnsureAddr(); err != nil {
					d.llog.Error("could not restore the server address", "iface", d.ifname, "err", err)
				}
			}
			first = false
		}
	}
}

// logRuntime logs the goroutine and descriptor counts at debug level, so leak tests (and
// people) can watch them across carrier cycles.
func (d *Daemon) logRuntime(when string) {
	if !d.llog.Enabled(context.Background(), -4) {
		return
	}
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents) - 1 // ReadDir's own descriptor
	}
	d.llog.Debug("runtime", "when", when, "goroutines", runtime.NumGoroutine(), "fds", fds)
}

// linkService follows the managed interface's carrier (superviseLink). The interface itself
// is set up before any service starts, because the servers bind to its address.
type linkService struct {
	d   *Daemon
	run runner
}

func (s *linkService) Name() string { return "link" }

func (s *linkService) Start(ctx context.Context) error {
	s.run.start(ctx, s.d.superviseLink)
	return nil
}

func (s *linkService) Reload() error { return nil }

// Stop ends the supervision at once, cutting short an auto-mode detection in progress.
func (s *linkService) Stop(context.Context) { s.run.stop() }

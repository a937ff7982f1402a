// Package daemon wires pxe-edge's services from a validated config.Config: the interface
// (pkg/netif), TFTP (pkg/tftp), HTTP (pkg/http) and DHCP (pkg/dhcpd over pkg/rawdhcp), and
// runs their life cycle: readiness and watchdog for systemd, carrier loss and return, SIGHUP
// reloads and a graceful stop.
package daemon

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/nbd"
	"github.com/pxe-edge/pxe-edge/pkg/netif"
)

// DefaultGrace is how long running transfers may go on after SIGTERM before they are cut.
const DefaultGrace = 5 * time.Second

// Options are the daemon's settings that do not come from the configuration.
type Options struct {
	Version string
	// Grace bounds the wait for running transfers at shutdown (default DefaultGrace).
	Grace time.Duration
}

// Daemon is one running pxe-edge.
type Daemon struct {
	cfg  *config.Config
	opts Options
	logs *Loggers
	log  *slog.Logger // lifecycle
	llog *slog.Logger // link
	bus  *events.Bus

	ifname string       // managed interface ("" = none)
	iface  *netif.Iface // nil when no interface is managed

	svcs []service // in start order; set by Run
	// nbd is the NBD server once its service started (before HTTP, which reports it).
	nbd *nbd.Server
	// dhcp is nil until the DHCP service starts, and when DHCP is off; the file servers,
	// which start first, read it from their request goroutines.
	dhcp atomic.Pointer[dhcpService]

	notify     *notifier // nil without systemd
	carrier    atomic.Bool
	activeMode atomic.Value // string: "full", "proxy", "paused", "off"
	beat       atomic.Int64 // unix nanoseconds of the main loop's last turn, for the watchdog
}

// New prepares a daemon: it checks capabilities and resolves the interface, but opens no
// socket yet.
func New(cfg *config.Config, logs *Loggers, opts Options) (*Daemon, error) {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	d := &Daemon{cfg: cfg, opts: opts, logs: logs, log: logs.Main, llog: logs.For("link"), bus: events.NewBus()}
	d.activeMode.Store("off")
	if err := requireCaps(d.neededCaps()...); err != nil {
		return nil, err
	}
	if cfg.Iface != "" || cfg.Mode() != config.DHCPOff {
		name := cfg.Iface
		if name == "" {
			n, err := netif.DefaultName()
			if err != nil {
				return nil, err
			}
			name = n
			d.log.Info("no --iface given; using the first wired interface", "iface", name)
		}
		d.ifname = name
	}
	return d, nil
}

// neededCaps lists the capabilities the configuration needs up front. CAP_NET_ADMIN is
// checked later, only when the interface actually needs a change.
func (d *Daemon) neededCaps() []capability {
	var need []capability
	low := unprivilegedPortStart()
	bind := (d.cfg.UseTFTP && d.cfg.TFTPPort < low) || (d.cfg.UseHTTP && d.cfg.HTTPPort < low)
	if d.cfg.Mode() != config.DHCPOff {
		need = append(need, capNetRaw)
		bind = bind || d.cfg.DHCPServerPort < low
	}
	if bind {
		need = append(need, capNetBindService)
	}
	return need
}

// Bus returns the daemon's event bus.
func (d *Daemon) Bus() *events.Bus { return d.bus }

// Run serves until ctx ends, then stops gracefully and returns nil; it returns an error
// when a service cannot start. Each value on reload triggers a reload (SIGHUP).
func (d *Daemon) Run(ctx context.Context, reload <-chan os.Signal) (err error) {
	d.log.Info("pxe-edge starting", "version", d.opts.Version, "pid", os.Getpid(),
		"tftp", d.cfg.UseTFTP, "http", d.cfg.UseHTTP, "dhcp", d.cfg.Mode().String(), "iface", d.ifname)
	d.notify = newNotifier() // before any goroutine may read it
	if d.ifname != "" {
		if err := d.setupLink(); err != nil {
			return err
		}
		defer func() {
			if rerr := d.iface.RemoveAddr(); rerr != nil {
				d.log.Warn("could not remove the server address", "err", rerr)
			}
		}()
	}

	// Everything after the interface's set-up runs with only the capabilities it needs.
	if kept, err := dropPrivileges(d.cfg.RunAs, d.cfg.StateDir); err != nil {
		if d.cfg.RunAs != "" {
			return err // asked to run as a user: never go on as root
		}
		d.log.Warn("could not drop privileges; running with those the process was given", "err", err)
	} else if kept != nil {
		d.log.Info("dropped privileges", "kept", strings.Join(kept, ","), "user", d.cfg.RunAs)
	}

	// Services live on their own context so that SIGTERM can first let them drain and only
	// then cut what is left.
	svcCtx, cancelSvc := context.WithCancel(context.Background())
	defer cancelSvc()
	var started []service
	d.svcs = d.services()
	for _, s := range d.svcs {
		if err := s.Start(svcCtx); err != nil {
			stopAll(context.Background(), started)
			return err
		}
		started = append(started, s)
	}
	// Start-up's garbage (the lease file's records, the catalogue scan, parsed settings) is
	// most of the heap at this point; hand it back to the OS once, so a small board's RSS is
	// what serving needs rather than what starting needed.
	debug.FreeOSMemory()

	n := d.notify
	if err := n.send("READY=1\nSTATUS=" + d.statusLine()); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	}
	d.log.Info("serving", "goroutines", runtime.NumGoroutine())
	d.beat.Store(time.Now().UnixNano())
	var dog runner
	if every := watchdogInterval(); every > 0 && n != nil {
		dog.start(svcCtx, func(ctx context.Context) {
			n.watchdog(ctx, every, func() bool {
				// The main loop turns at least every second; three missed turns mean it is stuck.
				return time.Since(time.Unix(0, d.beat.Load())) < 3*time.Second+every
			})
		})
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reload:
			d.reload()
		case <-tick.C:
		}
		d.beat.Store(time.Now().UnixNano())
	}

	_ = n.send("STOPPING=1")
	d.log.Info("shutting down: no new requests; running transfers get a grace period", "grace", d.opts.Grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), d.opts.Grace)
	defer cancel()
	stopAll(graceCtx, d.svcs)
	dog.stop()
	d.log.Info("stopped")
	return nil
}

// statusLine is the one-line state systemctl status shows (sd_notify STATUS=).
func (d *Daemon) statusLine() string {
	s := "serving"
	for _, svc := range d.svcs {
		// DHCP's mode and the link's carrier have their own words below.
		if n := svc.Name(); n != "DHCP" && n != "link" {
			s += " " + n
		}
	}
	if d.dhcpSvc() != nil {
		s += ", DHCP " + d.activeMode.Load().(string)
	}
	if d.iface != nil && !d.carrier.Load() {
		s += ", no carrier on " + d.ifname
	}
	return s
}

// updateStatus refreshes systemd's STATUS= after a mode or carrier change.
func (d *Daemon) updateStatus() {
	if d.notify != nil {
		_ = d.notify.send("STATUS=" + d.statusLine())
	}
}

// reload asks every service, in list order, to re-read what may change without a restart.
// A service whose reload fails keeps its previous configuration; the others still reload.
func (d *Daemon) reload() {
	d.log.Info("SIGHUP: reloading")
	ok := true
	for _, s := range d.svcs {
		if err := s.Reload(); err != nil {
			d.log.Error("reload failed; keeping the previous configuration", "service", s.Name(), "err", err)
			ok = false
		}
	}
	if ok {
		d.log.Info("reloaded")
	}
}

// macOf tells pkg/bootfs which MAC holds addr, from the DHCP lease table.
func (d *Daemon) macOf(addr netip.Addr) ([6]byte, bool) {
	svc := d.dhcpSvc()
	if svc == nil {
		return [6]byte{}, false
	}
	return svc.macOf(addr)
}

// bindAddr returns where a service listens: the address given for it, or the server
// address when an interface is managed and the setting was left at its default 0.0.0.0.
func (d *Daemon) bindAddr(key string, given netip.Addr, port int) string {
	a := given
	if d.iface != nil && !d.cfg.Given[key] && (!a.IsValid() || a.IsUnspecified()) {
		a = d.cfg.DHCPServerIP
	}
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	return net.JoinHostPort(a.String(), strconv.Itoa(port))
}

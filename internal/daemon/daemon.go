// Package daemon wires pxe-edge's services from a validated config.Config: the interface
// (pkg/netif), TFTP (pkg/tftp), HTTP (pkg/http) and DHCP (pkg/dhcpd over pkg/rawdhcp), and
// runs their life cycle: readiness and watchdog for systemd, carrier loss and return, SIGHUP
// reloads and a graceful stop.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/pkg/bootfs"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
	"github.com/pxe-edge/pxe-edge/pkg/netif"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
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

	tftp   *tftp.Server
	tftpFS *tftp.DirSource
	bootFS *bootfs.Source
	http   *httpd.Server

	dhcp *dhcpService // nil when DHCP is off

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
	if d.cfg.Mode() != config.DHCPOff {
		svc, err := newDHCPService(d)
		if err != nil {
			return err
		}
		d.dhcp = svc
		defer svc.close()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	// Services run on their own context so that SIGTERM can first stop accepting and let
	// transfers finish, and only then cancel.
	svcCtx, cancelSvc := context.WithCancel(context.Background())
	defer cancelSvc()

	if d.cfg.UseTFTP {
		conn, err := d.listenTFTP()
		if err != nil {
			return err
		}
		defer conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.tftp.Serve(svcCtx, conn); err != nil && !errors.Is(err, tftp.ErrServerClosed) {
				d.log.Error("TFTP server stopped", "err", err)
			}
		}()
		defer d.tftpFS.Close()
		defer d.bootFS.Close()
	}
	// HTTP stops on its own context: ending it starts pkg/http's graceful shutdown (its
	// ShutdownGrace for running downloads), in parallel with TFTP's grace period.
	httpCtx, cancelHTTP := context.WithCancel(svcCtx)
	defer cancelHTTP()
	if d.cfg.UseHTTP {
		ln, err := d.listenHTTP()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.http.Serve(httpCtx, ln); err != nil {
				d.log.Error("HTTP server stopped", "err", err)
			}
		}()
	}
	// The link supervisor stops first at shutdown, so an auto-mode detection in progress
	// is cut short instead of delaying the exit.
	linkCtx, cancelLink := context.WithCancel(svcCtx)
	defer cancelLink()
	if d.iface != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.superviseLink(linkCtx)
		}()
	}

	n := d.notify
	if err := n.send("READY=1\nSTATUS=" + d.statusLine()); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	}
	d.log.Info("serving", "goroutines", runtime.NumGoroutine())
	d.beat.Store(time.Now().UnixNano())
	if every := watchdogInterval(); every > 0 && n != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.watchdog(svcCtx, every, func() bool {
				// The main loop turns at least every second; three missed turns mean it is stuck.
				return time.Since(time.Unix(0, d.beat.Load())) < 3*time.Second+every
			})
		}()
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
	cancelLink()
	cancelHTTP()
	if d.dhcp != nil {
		d.dhcp.pauseAll()
	}
	graceCtx, cancel := context.WithTimeout(context.Background(), d.opts.Grace)
	defer cancel()
	if d.tftp != nil {
		if err := d.tftp.Shutdown(graceCtx); err != nil {
			d.log.Warn("TFTP transfers cut at the end of the grace period", "err", err)
		}
	}
	cancelSvc()
	wg.Wait()
	d.log.Info("stopped")
	return nil
}

// statusLine is the one-line state systemctl status shows (sd_notify STATUS=).
func (d *Daemon) statusLine() string {
	s := "serving"
	if d.cfg.UseTFTP {
		s += " TFTP"
	}
	if d.cfg.UseHTTP {
		s += " HTTP"
	}
	if d.dhcp != nil {
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

// reload re-reads what may change without a restart: static reservations and the boot map.
func (d *Daemon) reload() {
	d.log.Info("SIGHUP: reloading")
	if d.dhcp != nil {
		if err := d.dhcp.reload(); err != nil {
			d.log.Error("reload failed; keeping the previous configuration", "err", err)
			return
		}
	}
	d.log.Info("reloaded")
}

// macOf tells pkg/bootfs which MAC holds addr, from the DHCP lease table.
func (d *Daemon) macOf(addr netip.Addr) ([6]byte, bool) {
	if d.dhcp == nil {
		return [6]byte{}, false
	}
	return d.dhcp.macOf(addr)
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

func (d *Daemon) listenTFTP() (*net.UDPConn, error) {
	src, err := tftp.NewDirSource(d.cfg.NetbootDir, tftp.WithLowercaseFallback())
	if err != nil {
		return nil, fmt.Errorf("TFTP: netboot dir: %w", err)
	}
	// Per-client roots (01-<mac>/, <ip>/) and Raspberry Pi prefixes over the plain root.
	bs, err := bootfs.New(src, d.cfg.NetbootDir, bootfs.WithMACLookup(d.macOf))
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("TFTP: netboot dir: %w", err)
	}
	d.tftpFS, d.bootFS = src, bs
	d.tftp = d.tftpServer(bs)
	addr := d.bindAddr("TFTP_SERVER_IP", d.cfg.TFTPServerIP, d.cfg.TFTPPort)
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		bs.Close()
		src.Close()
		return nil, fmt.Errorf("TFTP: %w", err)
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		bs.Close()
		src.Close()
		return nil, fmt.Errorf("TFTP: listen on %s: %w", addr, err)
	}
	d.log.Info("TFTP listening", "addr", addr, "root", d.cfg.NetbootDir, "max", d.cfg.TFTPMax)
	return conn, nil
}

// tftpServer is the TFTP server's configuration over src.
func (d *Daemon) tftpServer(src tftp.FileSource) *tftp.Server {
	return &tftp.Server{
		Source:        src,
		MaxTransfers:  d.cfg.TFTPMax,
		WindowSizeMax: d.cfg.TFTPWindowsizeMax,
		Timeout:       d.cfg.TFTPTimeout,
		Retries:       d.cfg.TFTPRetries,
		IdleTimeout:   d.cfg.TFTPIdleTimeout,
		Logger:        d.logs.For("tftp"),
		Events:        d.bus,
	}
}

// httpConfig is the HTTP server's configuration, listening on addr.
func (d *Daemon) httpConfig(addr string) httpd.Config {
	var adv netip.Addr
	if a := d.cfg.HTTPServerIP; a.IsValid() && !a.IsUnspecified() {
		adv = a
	}
	return httpd.Config{
		Root:     d.cfg.NetbootDir,
		Addr:     addr,
		ServerIP: adv,
		Status:   d.cfg.HTTPStatus,
		ListDirs: d.cfg.HTTPListDirs,
		MaxConns: d.cfg.HTTPMaxConns,
		PiPath:   d.cfg.PiHTTPPath,
		Version:  d.opts.Version,
		Logger:   d.logs.For("http"),
		Events:   d.bus,
		Clients:  clientsView{d},
	}
}

func (d *Daemon) listenHTTP() (net.Listener, error) {
	addr := d.bindAddr("HTTP_SERVER_IP", d.cfg.HTTPServerIP, d.cfg.HTTPPort)
	srv, err := httpd.New(d.httpConfig(addr))
	if err != nil {
		return nil, fmt.Errorf("HTTP: %w", err)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP: listen on %s: %w", addr, err)
	}
	d.http = srv
	d.log.Info("HTTP listening", "addr", addr, "root", d.cfg.NetbootDir, "status", d.cfg.HTTPStatus)
	return ln, nil
}

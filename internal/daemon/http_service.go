package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
)

// httpService serves the netboot directory, the per-client scripts, the status API and the
// dashboard over HTTP.
type httpService struct {
	d      *Daemon
	images *imagesService // the catalogue served at /images/ and the generated menus
	srv    *httpd.Server
	run    runner
}

func (s *httpService) Name() string { return "HTTP" }

func (s *httpService) Start(ctx context.Context) error {
	d := s.d
	addr := d.bindAddr("HTTP_SERVER_IP", d.cfg.HTTPServerIP, d.cfg.HTTPPort)
	cfg := d.httpConfig(addr)
	if s.images != nil {
		cfg.Mounts = append(cfg.Mounts, httpd.Mount{Prefix: "/images/", Handler: s.images.imagesHandler()})
		cfg.Menus = menusView{s.images}
	}
	srv, err := httpd.New(cfg)
	if err != nil {
		return fmt.Errorf("HTTP: %w", err)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("HTTP: listen on %s: %w", addr, err)
	}
	d.setCongestion(ln, "HTTP")
	s.srv = srv
	d.log.Info("HTTP listening", "addr", addr, "root", d.cfg.NetbootDir, "status", d.cfg.HTTPStatus, "tcp_congestion", d.cfg.TCPCongestion)
	s.run.start(ctx, func(ctx context.Context) {
		if err := srv.Serve(ctx, ln); err != nil {
			d.log.Error("HTTP server stopped", "err", err)
		}
	})
	return nil
}

func (s *httpService) Reload() error { return nil }

// Stop ends Serve's context, which starts pkg/http's own graceful shutdown (its
// ShutdownGrace for running downloads), and waits for it.
func (s *httpService) Stop(context.Context) { s.run.stop() }

// httpConfig is the HTTP server's configuration, listening on addr.
func (d *Daemon) httpConfig(addr string) httpd.Config {
	var adv netip.Addr
	if a := d.cfg.HTTPServerIP; a.IsValid() && !a.IsUnspecified() {
		adv = a
	}
	var nbdExport *httpd.NBDExport
	if d.cfg.NBDBlockDevice != "" {
		ip, _ := netip.ParseAddr(d.cfg.NBDServerIP)
		nbdExport = &httpd.NBDExport{Server: ip, Port: d.cfg.NBDPort, Export: filepath.Base(d.cfg.NBDBlockDevice)}
	}
	return httpd.Config{
		NBD:               nbdExport,
		Root:              d.cfg.NetbootDir,
		Addr:              addr,
		ServerIP:          adv,
		Status:            d.cfg.HTTPStatus,
		ListDirs:          d.cfg.HTTPListDirs,
		MaxConns:          d.cfg.HTTPMaxConns,
		MaxConnsPerClient: d.cfg.HTTPMaxPerClient,
		TrustQueryMAC:     d.cfg.HTTPTrustQueryMAC,
		StatusHosts:       splitList(d.cfg.HTTPStatusHosts),
		PiPath:            d.cfg.PiHTTPPath,
		Version:           d.opts.Version,
		Logger:            d.logs.For("http"),
		Events:            d.bus,
		Clients:           clientsView{d},
	}
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var l []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}

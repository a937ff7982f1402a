package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Config configures a Server. Zero durations and sizes take the defaults named per field.
type Config struct {
	// Root is the netboot directory. Every file served comes from inside it (os.Root:
	// no "..", no symlink leading out).
	Root string
	// Addr is the listen address for ListenAndServe, e.g. ":80" (PyPXE --http-port).
	Addr string
	// ServerIP is the address scripts advertise (PyPXE --http-server-ip). When zero, a
	// script uses the local address the request arrived on.
	ServerIP netip.Addr
	// Status enables the dashboard (/), /api/status, /api/events and /metrics. The command
	// sets it from --http-status (default true); --http-status=false leaves only files.
	Status bool
	// NBD, when set, is the NBD export per-client scripts can name ({{.NBD.root}} …).
	NBD *NBDExport
	// StatusHosts are extra names the status routes answer to (e.g. the box's DNS name).
	// Without them only the addresses the server is reached on and localhost names are
	// accepted in the Host header, which keeps DNS-rebinding pages out (host.go).
	StatusHosts []string
	// ListDirs enables HTML directory listings; without it a directory is a 404 unless it
	// holds index.html.
	ListDirs bool
	// MaxConns caps concurrent connections (default 64). When all are taken, keep-alive
	// connections idle between requests are closed, oldest first, to make room; otherwise
	// further connections wait in the kernel's accept queue until one closes.
	MaxConns int
	// MaxConnsPerClient caps the connections from one remote address (default 8). A client
	// at its cap gives up its oldest idle connection; when none is idle its new connection
	// is answered 503 and closed. A cap of MaxConns or more is no cap.
	MaxConnsPerClient int
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (default 60 s).
	IdleTimeout time.Duration
	// WriteStallTimeout is the longest a response write may make no progress before the
	// connection is dropped (default 60 s). It is not a cap on a whole download: a slow
	// board fetching a large initrd over many minutes is fine as long as bytes move.
	WriteStallTimeout time.Duration
	// ShutdownGrace is how long Serve waits for running requests after ctx ends (default 5 s).
	ShutdownGrace time.Duration
	// PiPath is the URL prefix the Raspberry Pi 4/5 bootloader fetches boot.img and
	// boot.sig from (its EEPROM HTTP_PATH, default "net_install").
	PiPath string
	// PiDir is the directory served at PiPath; default Root/PiPath. It may lie outside Root
	// and is confined on its own.
	PiDir string
	// ProgressMin is the smallest download that publishes transfer events (default 64 KiB):
	// scripts and small configs would only flood the dashboard.
	ProgressMin int64
	// Version is reported by /metrics (pxe_edge_build_info) and /api/status.
	Version string
	// Logger receives one access-log line per request and errors (default slog.Default()).
	Logger *slog.Logger
	// Events receives TransferStarted/Progress/Done/Failed for downloads and feeds the
	// dashboard. It may be nil: then the dashboard shows only the daemon status.
	Events *events.Bus
	// TrustQueryMAC lets a client the daemon has no lease for (proxy mode, another DHCP
	// server) identify itself with ?mac=: its hosts/<mac>.ipxe is then rendered and its
	// 01-<mac>/ directory served. Anyone on the network can claim any MAC this way, so it
	// is off by default; leave it off where per-host files hold secrets (private.go). A
	// client with a lease is always its leased MAC.
	TrustQueryMAC bool
	// Mounts are read-only handlers served under URL prefixes beside Root (mount.go), e.g.
	// the image catalogue at /images/. The first matching prefix wins.
	Mounts []Mount
	// Menus, when set, is the image catalogue's side: boot.ipxe falls back to its generated
	// menu when the netboot directory has neither boot.ipxe nor the client's hosts/<mac>.ipxe,
	// and the status routes add /api/images, /api/profiles and /api/nextboot (GET; POST
	// with the dashboard token sets a machine's next boot).
	Menus Menus
	// Clients gives per-client facts and the daemon status. It may be nil: scripts then
	// see only the request's IP (and facts the client put in the query string).
	Clients Clients
}

// Defaults.
const (
	DefaultMaxConns          = 64
	DefaultMaxConnsPerClient = 8
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultWriteStallTimeout = 60 * time.Second
	DefaultShutdownGrace     = 5 * time.Second
	DefaultPiPath            = "net_install"
	DefaultProgressMin       = 64 << 10
)

// Server is pxe-edge's HTTP server. Create it with New; it serves once (Serve or
// ListenAndServe) and releases its directory handles when that returns.
type Server struct {
	cfg     Config
	log     *slog.Logger
	root    *os.Root
	piRoot  *os.Root // nil when PiDir is inside Root (then root serves it)
	piDir   string   // PiDir relative to Root when inside it
	handler http.Handler
	track   *tracker
	met     *httpMetrics

	stopTrack func()
	stopOnce  sync.Once
	stop      chan struct{} // closed when shutdown starts: ends SSE streams
	closeOnce sync.Once
}

// New validates cfg, opens the netboot directory and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("httpd: Config.Root (netboot directory) is empty")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerClient <= 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	cfg.MaxConnsPerClient = min(cfg.MaxConnsPerClient, cfg.MaxConns)
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteStallTimeout <= 0 {
		cfg.WriteStallTimeout = DefaultWriteStallTimeout
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.ProgressMin <= 0 {
		cfg.ProgressMin = DefaultProgressMin
	}
	if cfg.PiPath == "" {
		cfg.PiPath = DefaultPiPath
	}
	cfg.PiPath = strings.Trim(cfg.PiPath, "/")
	if p, err := cleanPath(cfg.PiPath); err != nil || p == "." {
		return nil, fmt.Errorf("httpd: Config.PiPath %q: not a plain relative path", cfg.PiPath)
	}
	if err := checkMounts(cfg.Mounts); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("httpd: netboot directory: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, root: root, stop: make(chan struct{}), met: &httpMetrics{}}
	s.piDir = cfg.PiPath
	if cfg.PiDir != "" {
		absRoot, _ := filepath.Abs(cfg.Root)
		absPi, _ := filepath.Abs(cfg.PiDir)
		if rel, err := filepath.Rel(absRoot, absPi); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			s.piDir = filepath.ToSlash(rel)
		} else {
			pr, err := os.OpenRoot(cfg.PiDir)
			if err != nil {
				root.Close()
				return nil, fmt.Errorf("httpd: Raspberry Pi directory: %w", err)
			}
			s.piRoot = pr
		}
	}
	s.track = newTracker(cfg.Events, cfg.Clients)
	s.stopTrack = func() {}
	if cfg.Status {
		// Subscribe now, not in Serve: the dashboard should see what happens from the
		// moment the daemon built the server. Without status routes nobody would read it.
		s.stopTrack = s.track.run()
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's request handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on Config.Addr (TCP) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.cfg.Addr
	if addr == "" {
		addr = ":80"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("httpd: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends, then shuts down gracefully: it stops
// accepting, ends event streams, waits up to ShutdownGrace for running downloads and closes
// what is left. It returns nil after a shutdown caused by ctx, else the accept error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	lim := newLimitListener(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerClient)
	lim.refused = s.met.refused
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          newErrorLog(s.log),
		ConnState: func(c net.Conn, st http.ConnState) {
			s.met.connState(c, st)
			lim.connState(c, st)
		},
	}
	// File bodies are corked (cork_linux.go) and download progress asks the socket what
	// the client acknowledged (transfer.go): both reach the connection through the context.
	hs.ConnContext = withConn
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lim) }()
	s.log.Info("http: serving", "addr", ln.Addr().String(), "root", s.cfg.Root, "status", s.cfg.Status,
		"max_conns", s.cfg.MaxConns, "max_conns_per_client", s.cfg.MaxConnsPerClient)
	select {
	case err := <-errc:
		return fmt.Errorf("httpd: serve: %w", err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stop) })
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		s.log.Warn("http: shutdown grace over, closing remaining connections", "err", err)
		_ = hs.Close()
	}
	<-errc
	return nil
}

// Close releases the directory handles and the event subscription. Serve calls it when it
// returns; call it yourself only for a Server that never served.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.closeOnce.Do(func() {
		s.stopTrack()
		s.root.Close()
		if s.piRoot != nil {
			s.piRoot.Close()
		}
	})
}

package dhcpd

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Server is the DHCP server: hand it to rawdhcp.Serve as the Handler. Its methods are safe
// for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	mode   atomic.Uint32
	paused atomic.Bool
	boot   atomic.Pointer[boot.Config] // SetBoot swaps it; cfg.Boot is only the first one

	addr    addresses    // how an address is chosen and held
	replies replyBuilder // what a reply contains
	rate    *rateLimiter // per-MAC answers per second
	obs     observer     // counters, events and log lines about what was sent

	replier   atomic.Pointer[Replier]
	deferSem  chan struct{}
	ctx       context.Context // ends at Close: bounds probes and commits in flight
	stop      context.CancelFunc
	deferCtx  context.Context // ctx saying "may finish on its own goroutine" (ServeDHCP)
	rerunCtx  context.Context // ctx saying "second run of a request": not counted again
	commitCtx atomic.Pointer[commitDeadline]
	wg        sync.WaitGroup

	st     stats
	drops  rawdhcp.DropLog // per-packet lines, rate-limited
	view   leaseView       // the table as observers see it
	rogues rogueTable      // other DHCP servers on the link
}

// New builds a server from cfg (validated here). Leases found in cfg.Store are loaded. It
// opens no socket: see SetProber and SawServer for the link layer's part.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Reservations.check(cfg.Subnet, cfg.ServerIP); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		rate:     newRateLimiter(cfg.RatePerMAC, cfg.RateBurst),
		deferSem: make(chan struct{}, maxDeferred),
	}
	s.addr.init(&s.cfg, s.log, s.debug, &s.st)
	s.replies.cfg = &s.cfg
	s.obs = observer{cfg: &s.cfg, log: s.log, st: &s.st, addr: &s.addr}
	s.drops.Every = dropLogEvery
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.deferCtx = context.WithValue(s.ctx, deferKey{}, true)
	s.rerunCtx = context.WithValue(s.ctx, rerunKey{}, true)
	s.mode.Store(uint32(cfg.Mode))
	bc := cfg.Boot
	s.boot.Store(&bc)
	if cfg.Store != nil {
		kept, skipped := s.addr.load(cfg.Store.All(), s.now())
		if kept+skipped > 0 {
			s.log.Info("dhcp: leases loaded", "kept", kept, "skipped", skipped)
		}
	}
	if cfg.Bus != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.obs.sweepLoop(s.ctx, s.now)
		}()
	}
	return s, nil
}

// SetProber sets the ARP prober for addresses nobody holds a lease on (nil: offer
// without probing): the caller opens it on the served interface (rawdhcp.OpenARPProber)
// and swaps it when the interface is created again. Relayed clients are never probed.
func (s *Server) SetProber(p Prober) { s.addr.arp.set(p) }

// Close ends the probes and commits in flight and waits for the server's goroutines. The
// lease store, the prober and the sockets are the caller's.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
	return nil
}

// SetMode switches between full and proxy answering (auto mode).
func (s *Server) SetMode(m Mode) {
	if m == ModeFull || m == ModeProxy {
		s.mode.Store(uint32(m))
	}
}

// Mode returns the current mode.
func (s *Server) Mode() Mode { return Mode(s.mode.Load()) }

// Pause stops all answering (carrier loss, or auto mode re-detecting); Resume restarts it.
// Requests arriving while paused are dropped without counting as errors.
func (s *Server) Pause() { s.paused.Store(true) }

// Resume undoes Pause.
func (s *Server) Resume() { s.paused.Store(false) }

// Paused reports whether the server is paused.
func (s *Server) Paused() bool { return s.paused.Load() }

// SetReservations replaces the static reservations (SIGHUP). They are checked against the
// subnet first; on error the old set stays.
func (s *Server) SetReservations(r *Reservations) error {
	if err := r.check(s.cfg.Subnet, s.cfg.ServerIP); err != nil {
		return err
	}
	s.addr.setReservations(r)
	return nil
}

// SetBoot replaces the boot policy's configuration (SIGHUP: a changed boot map, netboot
// file or Pi/U-Boot setting) for the requests that follow. Leases, offers, reservations,
// the mode and the sockets stay as they are. Requests being answered finish with the
// configuration they started with.
func (s *Server) SetBoot(c boot.Config) {
	s.boot.Store(&c)
}

// Config returns the server's configuration, with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Boot returns the boot configuration in use.
func (s *Server) Boot() boot.Config { return *s.boot.Load() }

// PoolInfo is the pool's size and use, for the dashboard and metrics.
type PoolInfo struct {
	Size         int    `json:"size"`         // addresses in dhcp-begin..dhcp-end
	InUse        int    `json:"in_use"`       // of which offered, leased or quarantined now
	Reservations int    `json:"reservations"` // static bindings
	Mode         string `json:"mode"`
	Paused       bool   `json:"paused"`
}

// Pool returns the pool's size and use.
func (s *Server) Pool() PoolInfo {
	size, inUse, resv := s.addr.usage(s.now())
	return PoolInfo{Size: size, InUse: inUse, Reservations: resv, Mode: s.Mode().String(), Paused: s.Paused()}
}

// debug writes a debug line; each message at most once per dropLogEvery, since most are
// about one packet and a flood must not flood the log.
func (s *Server) debug(msg string, args ...any) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.drops.Log(s.log, slog.LevelDebug, s.now(), msg, args...)
	}
}

// dropLogEvery is how often each per-packet debug or warning line may be written.
const dropLogEvery = 10 * time.Second

func macString(mac [6]byte) string { return net.HardwareAddr(mac[:]).String() }

package dhcpd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
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

	mu            sync.Mutex
	pool          *pool
	resv          *Reservations
	rate          *rateLimiter
	exhaustedWarn time.Time
	lastSweep     time.Time
	rogues        map[netip.Addr]*RogueServer

	sockMu    sync.RWMutex // guards prober, watch and ifindex against Reattach
	prober    prober
	watch     *rogueWatch
	watchDone chan struct{}
	ifindex   int // of Config.Interface when the sockets were opened
	replier   atomic.Pointer[Replier]
	deferSem  chan struct{}
	pcache    *probeCache
	ctx       context.Context // ends at Close: bounds probes and commits in flight
	stop      context.CancelFunc
	wg        sync.WaitGroup

	st    stats
	drops rawdhcp.DropLog // per-packet lines, rate-limited
	view  leaseView       // the table as observers see it
}

// stats are the server's counters (see Stats).
type stats struct {
	received, dropped, limited, ignored            atomic.Uint64
	offers, acks, naks, proxyOffers, proxyAcks     atomic.Uint64
	informs, declines, releases, exhausted, probes atomic.Uint64
	conflicts, commitErrors, panics                atomic.Uint64
	byType                                         [9]atomic.Uint64
}

// Stats is a snapshot of the server's counters, for metrics.
type Stats struct {
	Received     uint64 // requests handed to the server
	Dropped      uint64 // malformed or foreign packets (wrong op, no type, relayed from elsewhere)
	RateLimited  uint64 // dropped by the per-MAC rate limit
	Ignored      uint64 // valid requests that get no answer by design (whitelist, proxy non-PXE, other server selected)
	Offers       uint64
	Acks         uint64
	Naks         uint64
	ProxyOffers  uint64
	ProxyAcks    uint64 // port-4011 (and port-67 proxy) ACKs
	Informs      uint64
	Declines     uint64
	Releases     uint64
	Exhausted    uint64 // DISCOVERs left unanswered because the pool was full
	Probes       uint64 // ARP probes sent (cache misses)
	Conflicts    uint64 // addresses found in use by the ARP probe
	CommitErrors uint64 // leases that could not be made durable (no ACK sent)
	Panics       uint64 // deferred ARP-probe handlers that panicked (recovered)
	// ByType counts well-formed requests by DHCP message type, indexed by the option 53
	// value (1 DISCOVER … 8 INFORM; 0 unused).
	ByType [9]uint64
}

// New builds a server from cfg (validated here). In full mode with ProbeWait ≥ 0 it opens
// the ARP probe socket and the rogue-server watch on cfg.Interface now, so call it inside
// the network namespace that owns the interface. Leases found in cfg.Store are loaded.
// Close releases the sockets.
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
		pool:     newPool(cfg.Begin, cfg.End),
		resv:     cfg.Reservations,
		rate:     newRateLimiter(cfg.RatePerMAC, cfg.RateBurst),
		rogues:   make(map[netip.Addr]*RogueServer),
		pcache:   newProbeCache(cfg.ProbeCache),
		deferSem: make(chan struct{}, maxDeferred),
	}
	s.drops.Every = dropLogEvery
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.mode.Store(uint32(cfg.Mode))
	bc := cfg.Boot
	s.boot.Store(&bc)
	s.pool.setReserved(cfg.Reservations)
	if cfg.Store != nil {
		s.loadLeases(cfg.Store.All())
	}
	if cfg.Bus != nil {
		s.wg.Add(1)
		go s.sweepLoop()
	}
	if cfg.Interface != "" {
		if err := s.openSockets(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// openSockets opens the ARP probe (full mode with a pool) and the rogue watch on
// cfg.Interface and remembers the interface's index. Called with sockMu held (or before
// the server is shared).
func (s *Server) openSockets() error {
	cfg := s.cfg
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return fmt.Errorf("dhcpd: interface %s: %w", cfg.Interface, err)
	}
	if cfg.ProbeWait > 0 && cfg.Begin.IsValid() {
		p, err := newARPProber(cfg.Interface, cfg.ServerIP)
		if err != nil {
			return err
		}
		s.prober = p
	}
	w, err := newRogueWatch(cfg.Interface)
	if err != nil {
		s.closeSockets()
		return err
	}
	s.watch = w
	done := make(chan struct{})
	s.watchDone = done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		w.run(s.ctx, cfg.ServerIP, s.sawServer)
	}()
	s.ifindex = ifi.Index
	return nil
}

// closeSockets closes the rogue watch (waiting for its reader) and the ARP prober.
// Called with sockMu held.
func (s *Server) closeSockets() error {
	var err error
	if s.watch != nil {
		err = s.watch.close()
		<-s.watchDone
		s.watch, s.watchDone = nil, nil
	}
	if s.prober != nil {
		if e := s.prober.close(); err == nil {
			err = e
		}
		s.prober = nil
	}
	s.ifindex = 0
	return err
}

// Reattach reopens the ARP probe and rogue-watch sockets when the interface was deleted
// and created again since they were opened (its index changed): packet sockets bound to a
// deleted interface stay open but neither send nor hear anything. It reports whether it
// reopened them; with the same index, or no Config.Interface, it does nothing. Call it in
// the interface's network namespace, as New.
func (s *Server) Reattach() (bool, error) {
	if s.cfg.Interface == "" {
		return false, nil
	}
	ifi, err := net.InterfaceByName(s.cfg.Interface)
	if err != nil {
		return false, fmt.Errorf("dhcpd: interface %s: %w", s.cfg.Interface, err)
	}
	s.sockMu.Lock()
	defer s.sockMu.Unlock()
	if ifi.Index == s.ifindex {
		return false, nil
	}
	if err := s.closeSockets(); err != nil {
		s.debug("dhcp: closing the sockets of the old interface", "err", err)
	}
	return true, s.openSockets()
}

// getProber returns the current ARP prober (nil: no probing).
func (s *Server) getProber() prober {
	s.sockMu.RLock()
	defer s.sockMu.RUnlock()
	return s.prober
}

// Close stops the ARP prober and the rogue watch. The lease store is the caller's.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
	}
	s.sockMu.Lock()
	err := s.closeSockets()
	s.sockMu.Unlock()
	s.wg.Wait()
	return err
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
	s.mu.Lock()
	s.resv = r
	s.pool.setReserved(r)
	s.mu.Unlock()
	return nil
}

// SetBoot replaces the boot policy's configuration (SIGHUP: a changed boot map, netboot
// file or Pi/U-Boot setting) for the requests that follow. Leases, offers, reservations,
// the mode and the sockets stay as they are. Requests being answered finish with the
// configuration they started with.
func (s *Server) SetBoot(c boot.Config) {
	s.boot.Store(&c)
}

// Boot returns the boot configuration in use.
func (s *Server) Boot() boot.Config { return *s.boot.Load() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.st
	st := Stats{
		Received: c.received.Load(), Dropped: c.dropped.Load(), RateLimited: c.limited.Load(),
		Ignored: c.ignored.Load(), Offers: c.offers.Load(), Acks: c.acks.Load(), Naks: c.naks.Load(),
		ProxyOffers: c.proxyOffers.Load(), ProxyAcks: c.proxyAcks.Load(), Informs: c.informs.Load(),
		Declines: c.declines.Load(), Releases: c.releases.Load(), Exhausted: c.exhausted.Load(),
		Probes: c.probes.Load(), Conflicts: c.conflicts.Load(), CommitErrors: c.commitErrors.Load(), Panics: c.panics.Load(),
	}
	for i := range st.ByType {
		st.ByType[i] = c.byType[i].Load()
	}
	return st
}

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
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return PoolInfo{Size: s.pool.size(), InUse: s.pool.inUse(now), Reservations: s.resv.Len(), Mode: s.Mode().String(), Paused: s.Paused()}
}

// RogueServer is another DHCP server seen answering on our link.
type RogueServer struct {
	Addr  netip.Addr       `json:"addr"`
	MAC   net.HardwareAddr `json:"-"`
	First time.Time        `json:"first"` // first sighting of the current run (see Persistent)
	Last  time.Time        `json:"last"`  // latest sighting
	Count uint64           `json:"count"` // sightings in all
	run   uint64           // sightings in the current run
	warn  time.Time        // last warning logged
}

// rogueForget ends a run of sightings: a server silent this long is new when it answers
// again.
const rogueForget = time.Minute

// Persistent reports whether the server has answered at least twice, the first and the
// latest answer at least hold apart, with no silence of rogueForget in between: a real
// server keeps answering its clients, while one spoofed packet is a single sighting.
func (r RogueServer) Persistent(hold time.Duration) bool {
	return r.run >= 2 && r.Last.Sub(r.First) >= hold
}

// Rogues returns the other DHCP servers seen while serving full DHCP.
func (s *Server) Rogues() []RogueServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RogueServer, 0, len(s.rogues))
	for _, r := range s.rogues {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RogueServer) int { return a.Addr.Compare(b.Addr) })
	return out
}

// sawServer is the rogue watch's callback.
func (s *Server) sawServer(addr netip.Addr, mac net.HardwareAddr, typ rawdhcp.MessageType) {
	if s.Mode() != ModeFull || s.Paused() {
		return
	}
	now := s.now()
	s.mu.Lock()
	r := s.rogues[addr]
	warn := r == nil || now.Sub(r.warn) >= s.cfg.WarnInterval
	if r == nil {
		if len(s.rogues) >= 64 {
			clear(s.rogues)
		}
		r = &RogueServer{Addr: addr}
		s.rogues[addr] = r
	}
	if warn {
		r.warn = now
	}
	if r.run == 0 || now.Sub(r.Last) >= rogueForget {
		r.First, r.run = now, 0
	}
	r.Last = now
	r.MAC = mac
	r.Count++
	r.run++
	s.mu.Unlock()
	if warn {
		s.log.Warn("dhcp: another DHCP server is answering on this link", "server", addr, "mac", mac.String(), "type", typ.String(), "interface", s.cfg.Interface)
	}
}

// loadLeases fills the table from the store at start.
func (s *Server) loadLeases(ls []lease.Lease) {
	now := s.now()
	kept, skipped := 0, 0
	for _, l := range ls {
		if !l.IP.Is4() {
			skipped++
			continue
		}
		ip := u32(l.IP)
		if l.State == lease.Declined {
			if now.Before(l.Expiry) && s.cfg.Subnet.Contains(l.IP) {
				s.pool.mark(ip, stDeclined, l.Expiry)
				kept++
			}
			continue
		}
		if len(l.MAC) != 6 {
			skipped++
			continue
		}
		mac := [6]byte(l.MAC)
		r, reserved := s.pool.reserved[ip]
		if reserved && r != mac || !reserved && !s.pool.inRange(ip) {
			skipped++ // the pool or the reservations changed since
			continue
		}
		id := macKey(l.MAC)
		if len(l.ClientID) > 0 {
			id = string(l.ClientID)
		}
		st := stBound
		exp := l.Expiry
		switch l.State {
		case lease.Offered:
			st = stOffered
		case lease.Released:
			if exp.IsZero() || now.Before(exp) {
				exp = now
			}
		}
		if exp.IsZero() {
			exp = now.Add(100 * 365 * 24 * time.Hour)
		}
		b := s.pool.set(ip, id, mac, l.Hostname, st, exp)
		// A lease this short may be one committed at the OFFER: its REQUEST must write a
		// full lease, not only move the expiry.
		b.provisional = st == stBound && exp.Sub(now) <= offerCommitLease
		kept++
	}
	if kept+skipped > 0 {
		s.log.Info("dhcp: leases loaded", "kept", kept, "skipped", skipped)
	}
}

// publish sends a DHCP event (a lease change) to the bus.
func (s *Server) publish(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) {
	if s.cfg.Bus != nil {
		s.cfg.Bus.Publish(s.event(kind, msg, mac, ip))
	}
}

// event is a DHCP event about the client mac at ip.
func (s *Server) event(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) events.Event {
	e := events.Event{Kind: kind, Proto: "dhcp", Msg: msg, MAC: net.HardwareAddr(mac[:]).String()}
	if ip.IsValid() && !ip.IsUnspecified() {
		e.Client = netip.AddrPortFrom(ip, 68)
	}
	return e
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

// sweepInterval is how often expired leases are announced on the bus.
const sweepInterval = 15 * time.Second

// sweepLoop publishes LeaseChanged "expired" for leases that ran out, so the dashboard
// does not have to poll. Expired leases stay in the table until reclaimed.
func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep(s.now())
		}
	}
}

// sweep publishes an event for every lease that expired since the previous sweep.
func (s *Server) sweep(now time.Time) {
	type gone struct {
		mac [6]byte
		ip  netip.Addr
	}
	var out []gone
	s.mu.Lock()
	since := s.lastSweep
	s.lastSweep = now
	for ip, b := range s.pool.byIP {
		if b.state == stBound && !b.expires.After(now) && b.expires.After(since) && b.id != "" {
			out = append(out, gone{b.mac, a4(ip)})
		}
	}
	s.mu.Unlock()
	for _, g := range out {
		s.publish(events.LeaseChanged, "expired", g.mac, g.ip)
	}
}

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// detectTimeout bounds auto mode's look for another DHCP server. dnsmasq pings an address
// before its first OFFER of it and waits up to 3 s for an answer, so a shorter look would
// miss the most common server on a lab network.
const detectTimeout = 6 * time.Second

// dhcpService runs DHCP on the managed interface. The dhcpd.Server lives as long as the
// daemon (it holds the pool and the rogue watch); the raw socket and its serve loop live
// from carrier up to carrier down, so a lost cable also releases the socket and a
// re-created interface is picked up.
type dhcpService struct {
	d     *Daemon
	log   *slog.Logger
	store *lease.Store // nil in proxy mode

	srv      atomic.Pointer[dhcpd.Server]
	resv     atomic.Pointer[dhcpd.Reservations]
	boot     atomic.Pointer[boot.Config] // what the current server decides with
	bootMap  map[uint16]string
	facts    *factsCache    // fed from the bus's DHCP events
	images   *imagesService // machine profiles ("secure_boot"); nil without TFTP and HTTP
	unfollow func()
	link     linkSockets // ARP prober and server watch, under mu

	mu     sync.Mutex // serializes resume/pause/reload
	cancel context.CancelFunc
	done   chan struct{}
}

func newDHCPService(d *Daemon, img *imagesService) (*dhcpService, error) {
	s := &dhcpService{d: d, log: d.logs.For("dhcp"), facts: newFactsCache(), images: img}
	resv, err := s.loadReservations()
	if err != nil {
		return nil, err
	}
	bm, err := loadBootMap(d.cfg.BootMap)
	if err != nil {
		return nil, err
	}
	s.bootMap = bm
	if d.cfg.Mode() != config.DHCPProxy {
		st, rep, err := lease.Open(d.cfg.StateDir, lease.Options{Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("DHCP: lease store in --state-dir %s: %w", d.cfg.StateDir, err)
		}
		if rep.Damaged() {
			s.log.Warn("lease files were damaged; kept what could be read", "leases", rep.Leases, "skipped", rep.Skipped, "preserved", rep.Preserved)
		}
		s.store = st
	}
	srv, err := s.build(resv, bm)
	if err != nil {
		if s.store != nil {
			s.store.Close()
		}
		return nil, err
	}
	if s.store != nil && d.cfg.LeasesFile != "" {
		// A PyPXE user moving over keeps the clients' addresses; the lease store stays
		// authoritative (dhcpd adopts only what it does not already know).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := srv.LoadPyPXELeases(ctx, d.cfg.LeasesFile)
		cancel()
		if err != nil {
			s.log.Warn("--save-leases: could not import", "file", d.cfg.LeasesFile, "err", err)
		} else if n > 0 {
			s.log.Info("imported PyPXE leases", "file", d.cfg.LeasesFile, "leases", n)
		}
	}
	// Nothing is answered until the carrier is confirmed (and, in auto mode, detection ran).
	srv.Pause()
	if err := s.link.open(s.d.ifname, srv); err != nil {
		srv.Close()
		if s.store != nil {
			s.store.Close()
		}
		return nil, fmt.Errorf("DHCP: %w", err)
	}
	s.srv.Store(srv)
	s.resv.Store(resv)
	ch, unfollow := d.bus.Subscribe(256)
	s.unfollow = unfollow
	go s.facts.follow(ch)
	return s, nil
}

// build makes a dhcpd.Server from the configuration.
func (s *dhcpService) build(resv *dhcpd.Reservations, bootMap map[uint16]string) (*dhcpd.Server, error) {
	c := s.d.cfg
	subnet, err := dhcpd.PrefixFromMask(c.DHCPServerIP, c.DHCPSubnet)
	if err != nil {
		return nil, err
	}
	mode := dhcpd.ModeFull
	if c.Mode() == config.DHCPProxy {
		mode = dhcpd.ModeProxy
	}
	var bcast netip.Addr
	if a, err := netip.ParseAddr(c.DHCPBroadcast); err == nil {
		bcast = a
	}
	bc := s.bootConfig(bootMap)
	dc := dhcpd.Config{
		Mode:          mode,
		Boot:          bc,
		Bus:           s.d.bus,
		Interface:     s.d.ifname,
		ServerIP:      c.DHCPServerIP,
		Subnet:        subnet,
		Router:        c.DHCPRouter,
		DNS:           c.DHCPDNS,
		Broadcast:     bcast,
		Authoritative: true,
		Whitelist:     c.DHCPWhitelist,
		Reservations:  resv,
		Logger:        s.log,
	}
	if mode == dhcpd.ModeFull {
		dc.Begin, dc.End = c.DHCPBegin, c.DHCPEnd
	}
	if s.images != nil {
		dc.SecureBootFor = s.images.secureBootFor
	}
	if c.NBDBlockDevice != "" {
		dc.RootPath = s.d.nbdRootPath()
	}
	if s.store != nil {
		dc.Store = s.store
	}
	srv, err := dhcpd.New(dc)
	if err != nil {
		return nil, fmt.Errorf("DHCP: %w", err)
	}
	s.boot.Store(&bc)
	return srv, nil
}

// bootConfig is the boot policy's configuration from the settings and the boot map.
func (s *dhcpService) bootConfig(bootMap map[uint16]string) boot.Config {
	c := s.d.cfg
	bc := boot.Config{
		ServerIP:    c.DHCPFileserver,
		TFTP:        c.UseTFTP,
		HTTP:        c.UseHTTP,
		HTTPPort:    uint16(c.HTTPPort),
		IPXE:        c.UseIPXE,
		NetbootFile: c.NetbootFile,
		ArchFiles:   bootMap,
		// UEFI HTTP boot and the Pi bootloader are served by pkg/http at these paths.
		HTTPBootPath: c.HTTPBootPath,
		SecureBoot:   c.SecureBoot,
		Pi:           boot.PiConfig{Disabled: !c.UsePi, Menu: piMenu(c.PiMenu), TFTPPrefix: c.PiTFTPPrefix},
		UBoot:        boot.UBootConfig{File: c.UBootFile, ConfigFile: c.UBootConfigFile},
	}
	if a := c.HTTPServerIP; a.IsValid() && !a.IsUnspecified() {
		bc.HTTPHost = a
	}
	return bc
}

// piMenu maps --pi-menu (validated by internal/config) to pkg/boot's variant.
func piMenu(s string) boot.PiMenu {
	switch s {
	case "plain":
		return boot.PiMenuPlain
	case "three-spaces":
		return boot.PiMenuThreeSpaces
	}
	return boot.PiMenuAuto
}

func (s *dhcpService) loadReservations() (*dhcpd.Reservations, error) {
	if s.d.cfg.StaticConfig == "" {
		return nil, nil
	}
	r, err := dhcpd.LoadReservations(s.d.cfg.StaticConfig)
	if err != nil {
		return nil, fmt.Errorf("--static-config %s: %w", s.d.cfg.StaticConfig, err)
	}
	return r, nil
}

// loadBootMap reads the boot map: a JSON object from option 93 architecture numbers to boot
// files, e.g. {"7": "snponly.efi", "11": "arm64/ipxe.efi"} (pkg/boot's ArchFiles).
func loadBootMap(path string) (map[uint16]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--boot-map: %w", err)
	}
	return parseBootMap(b, path)
}

// parseBootMap is loadBootMap on the file's contents; path is for the messages.
func parseBootMap(b []byte, path string) (map[uint16]string, error) {
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("--boot-map %s: want a JSON object of \"arch\": \"file\": %w", path, err)
	}
	m := make(map[uint16]string, len(raw))
	for k, v := range raw {
		n, err := strconv.ParseUint(strings.TrimSpace(k), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("--boot-map %s: key %q is not an option 93 architecture number", path, k)
		}
		if v == "" {
			return nil, fmt.Errorf("--boot-map %s: architecture %d has an empty file name", path, n)
		}
		if _, dup := m[uint16(n)]; dup {
			// "7" and "07": which one won would depend on map order.
			return nil, fmt.Errorf("--boot-map %s: architecture %d is given twice", path, n)
		}
		m[uint16(n)] = v
	}
	return m, nil
}

// resume starts answering after the carrier came (back): auto mode first looks for
// another DHCP server and picks proxy or full, then the socket is opened and the serve loop
// started.
func (s *dhcpService) resume(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return // already serving
	}
	srv := s.srv.Load()
	mode := srv.Mode().String()
	if s.d.cfg.Mode() == config.DHCPAuto {
		res, err := rawdhcp.Detect(ctx, s.d.ifname, detectTimeout)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			s.log.Error("auto mode: detection failed; assuming no other DHCP server", "err", err)
			srv.SetMode(dhcpd.ModeFull)
		case res.Found:
			s.log.Info("auto mode: another DHCP server answers; serving ProxyDHCP", "server", res.Server, "offered", res.Offered)
			srv.SetMode(dhcpd.ModeProxy)
		default:
			s.log.Info("auto mode: no other DHCP server answered; serving full DHCP")
			srv.SetMode(dhcpd.ModeFull)
		}
		mode = "auto→" + srv.Mode().String()
	}
	// An interface deleted and created again (same name, new index) leaves dhcpd's ARP
	// probe and rogue watch on the old one, deaf: reopen them like the DHCP socket below.
	if re, err := s.link.reattach(s.d.ifname, srv); err != nil {
		s.log.Error("DHCP: cannot reopen the ARP probe and rogue watch on the new interface", "iface", s.d.ifname, "err", err)
	} else if re {
		s.log.Info("interface was created again; ARP probe and rogue watch reopened", "iface", s.d.ifname)
	}
	conn, err := rawdhcp.Listen(s.d.ifname, &rawdhcp.Config{
		ServerAddr: s.d.cfg.DHCPServerIP,
		Ports:      []uint16{s.port(), boot.PortPXE},
		Logger:     s.log,
	})
	if err != nil {
		s.log.Error("DHCP: cannot open the raw socket; not answering until the carrier comes back", "iface", s.d.ifname, "err", err)
		return
	}
	// DISCOVERs that need an ARP probe finish on their own goroutine, so a probe's wait
	// never holds one of the serve loop's workers.
	srv.SetReplier(conn)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer conn.Close()
		rs := &rawdhcp.Server{Handler: handler{s}, Workers: serveWorkers, Logger: s.log}
		if err := rs.Serve(sctx, conn); err != nil {
			s.log.Error("DHCP serve loop ended", "err", err)
		}
	}()
	if s.d.cfg.Mode() == config.DHCPAuto && srv.Mode() == dhcpd.ModeFull {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watchRogues(sctx, time.Now())
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	srv.Resume()
	s.d.activeMode.Store(srv.Mode().String())
	s.d.bus.Publish(events.Event{Kind: events.ModeChanged, Proto: "dhcp", Msg: mode})
	s.log.Info("DHCP answering", "iface", s.d.ifname, "mode", mode, "server", s.d.cfg.DHCPServerIP)
}

// serveWorkers is the serve loop's handler goroutines. A worker waits for the lease
// store's fsync before its ACK leaves; with several waiting at once their leases share one
// group commit, so more workers mean fewer fsyncs per ACK (figures in docs/bench/dhcp.md).
// Memory is (4+1)·serveWorkers reusable messages.
const serveWorkers = 12

// rogueCheck is how often auto mode, serving full DHCP, looks at the servers the rogue
// watch saw.
const rogueCheck = 2 * time.Second

// rogueHold is how long another server must keep answering before auto mode gives way to
// it: one spoofed OFFER must not turn the address service off.
const rogueHold = 5 * time.Second

// watchRogues steps auto mode back to ProxyDHCP when another DHCP server starts answering
// on the link after detection chose full and keeps answering for rogueHold: two servers
// handing out addresses on one link is the one thing auto mode exists to avoid. Going back
// to full happens only through a new detection (carrier return), since a server that
// answers now and then must not make the mode flap.
func (s *dhcpService) watchRogues(ctx context.Context, since time.Time) {
	t := time.NewTicker(rogueCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		srv := s.srv.Load()
		for _, r := range srv.Rogues() {
			if r.Last.After(since) && r.Persistent(rogueHold) {
				s.log.Warn("auto mode: another DHCP server appeared on the link; switching to ProxyDHCP", "server", r.Addr)
				srv.SetMode(dhcpd.ModeProxy)
				s.d.activeMode.Store(dhcpd.ModeProxy.String())
				s.d.bus.Publish(events.Event{Kind: events.ModeChanged, Proto: "dhcp", Msg: "auto→proxy"})
				s.d.updateStatus()
				return
			}
		}
	}
}

func (s *dhcpService) port() uint16 {
	if p := s.d.cfg.DHCPServerPort; p > 0 && p < 65536 {
		return uint16(p)
	}
	return rawdhcp.ServerPort
}

// handler forwards to the current dhcpd.Server.
type handler struct{ s *dhcpService }

func (h handler) ServeDHCP(w rawdhcp.ResponseWriter, req *rawdhcp.Message, info *rawdhcp.PacketInfo) {
	h.s.srv.Load().ServeDHCP(w, req, info)
}

// pause stops answering and closes the socket (carrier loss).
func (s *dhcpService) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv.Load()
	srv.Pause()
	srv.SetReplier(nil) // the Conn closes below
	if s.done != nil {
		s.cancel()
		<-s.done
		s.cancel, s.done = nil, nil
	}
	s.d.activeMode.Store("paused")
	s.d.bus.Publish(events.Event{Kind: events.ModeChanged, Proto: "dhcp", Msg: "paused"})
}

// saveLeasesFile writes PyPXE's --save-leases file (on exit and SIGHUP, as PyPXE does).
func (s *dhcpService) saveLeasesFile() {
	if s.store == nil || s.d.cfg.LeasesFile == "" {
		return
	}
	if err := s.srv.Load().WritePyPXELeases(s.d.cfg.LeasesFile); err != nil {
		s.log.Warn("--save-leases: could not save", "file", s.d.cfg.LeasesFile, "err", err)
	}
}

// close releases the server and flushes the lease store.
func (s *dhcpService) close() {
	s.pause()
	s.unfollow()
	s.mu.Lock()
	if err := s.link.close(s.srv.Load()); err != nil {
		s.log.Warn("DHCP: closing the ARP probe and server watch", "err", err)
	}
	s.mu.Unlock()
	if err := s.srv.Load().Close(); err != nil {
		s.log.Warn("DHCP close", "err", err)
	}
	if s.store != nil {
		s.saveLeasesFile()
		if err := s.store.Close(); err != nil {
			s.log.Error("lease store close", "err", err)
		} else {
			s.log.Info("leases flushed", "dir", s.d.cfg.StateDir)
		}
	}
}

// reload re-reads the static reservations and the boot map and swaps both into the running
// dhcpd.Server in place: its lease table, offers in flight, counters, probe cache and
// sockets stay.
func (s *dhcpService) reload() error {
	resv, err := s.loadReservations()
	if err != nil {
		return err
	}
	bm, err := loadBootMap(s.d.cfg.BootMap)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv.Load()
	if err := srv.SetReservations(resv); err != nil {
		return fmt.Errorf("--static-config: %w", err)
	}
	if !maps.Equal(bm, s.bootMap) {
		bc := s.bootConfig(bm)
		srv.SetBoot(bc)
		s.boot.Store(&bc)
		s.bootMap = bm
		s.log.Info("boot map reloaded", "entries", len(bm))
	}
	s.resv.Store(resv)
	s.log.Info("static reservations reloaded", "reservations", resv.Len())
	s.saveLeasesFile()
	return nil
}

// macOf returns the MAC holding ip: from the durable store when there is one (a map
// lookup), else from the server's table.
func (s *dhcpService) macOf(ip netip.Addr) (mac [6]byte, ok bool) {
	if s.store != nil {
		if l, found := s.store.ByIP(ip); found && len(l.MAC) == 6 && l.State != lease.Declined {
			copy(mac[:], l.MAC)
			return mac, true
		}
		return mac, false
	}
	if l, ok := s.srv.Load().Lease(ip); ok && len(l.MAC) == 6 {
		copy(mac[:], l.MAC)
		return mac, true
	}
	return mac, false
}

// client returns the DHCP facts about the client holding ip.
func (s *dhcpService) client(ip netip.Addr) (httpd.ClientInfo, bool) {
	l, ok := s.srv.Load().Lease(ip)
	if !ok || len(l.MAC) != 6 {
		return httpd.ClientInfo{}, false
	}
	info := httpd.ClientInfo{MAC: l.MAC.String(), IP: l.IP, Hostname: l.Hostname}
	mac := [6]byte(l.MAC)
	if f, ok := s.facts.get(mac); ok {
		info.Arch, info.Kind, info.Platform, info.BuildArch, info.UUID, info.Chain = f.Arch, f.Kind, f.Platform, f.BuildArch, f.UUID, f.Chain
		if f.ArchKnown {
			info.ArchName = f.Kind
		}
	}
	if r, ok := s.resv.Load().Lookup(mac); ok {
		info.Reservation = reservationFields(r)
		if info.Hostname == "" {
			info.Hostname = r.Hostname
		}
	}
	return info, true
}

func reservationFields(r dhcpd.Reservation) map[string]string {
	m := map[string]string{}
	add := func(k string, a netip.Addr) {
		if a.IsValid() {
			m[k] = a.String()
		}
	}
	add("ipaddr", r.IP)
	add("subnet", r.Mask)
	add("router", r.Router)
	if len(r.DNS) > 0 {
		d := make([]string, len(r.DNS))
		for i, a := range r.DNS {
			d[i] = a.String()
		}
		m["dns"] = strings.Join(d, ",")
	}
	if r.ROM != "" {
		m["rom"] = r.ROM
	}
	if r.Hostname != "" {
		m["hostname"] = r.Hostname
	}
	if r.SecureBoot != nil {
		m["secureboot"] = strconv.FormatBool(*r.SecureBoot)
	}
	if r.Group != "" {
		m["group"] = r.Group
	}
	return m
}

// status fills the DHCP part of the dashboard status.
func (s *dhcpService) status(st *httpd.DaemonStatus) {
	srv := s.srv.Load()
	p := srv.Pool()
	st.PoolSize, st.PoolUsed = p.Size, p.InUse
	for _, l := range srv.Leases() {
		hl := httpd.Lease{
			MAC: l.MAC.String(), IP: l.IP, Hostname: l.Hostname, State: l.State,
			Static: l.Reserved, Expires: l.Expires,
		}
		if len(l.MAC) == 6 {
			if f, ok := s.facts.get([6]byte(l.MAC)); ok && f.ArchKnown {
				hl.Arch = f.Kind
			}
		}
		st.Leases = append(st.Leases, hl)
	}
	stats := srv.Stats()
	st.DHCPReceived = receivedByType(stats.ByType)
	if s.store != nil {
		h, ls := s.store.Health(), s.store.Stats()
		st.LeaseStore = &httpd.LeaseStoreHealth{
			Degraded: h.Degraded, Since: h.Since, Refused: ls.Refused, Failures: ls.Failures,
			Recoveries: ls.Recoveries, NewClientsWaiting: stats.StoreFull,
		}
		if h.Err != nil {
			st.LeaseStore.Err = h.Err.Error()
		}
	}
}

// receivedByType names dhcpd's per-type request counters the way /metrics labels them.
// The five client message types are always present (a zero is a fact too); server types a
// broken client sent as requests only once seen.
func receivedByType(by [9]uint64) map[string]uint64 {
	m := make(map[string]uint64, 5)
	for t := rawdhcp.Discover; int(t) < len(by); t++ {
		switch t {
		case rawdhcp.Discover, rawdhcp.Request, rawdhcp.Decline, rawdhcp.Release, rawdhcp.Inform:
			m[t.String()] = by[t]
		default:
			if by[t] > 0 {
				m[t.String()] = by[t]
			}
		}
	}
	return m
}

// linkSockets are the DHCP server's link-layer side sockets on the managed interface (from
// pkg/rawdhcp; dhcpd itself opens none): the ARP prober, in full mode with a pool, and the
// watch for other DHCP servers, whose sightings go to dhcpd.Server.SawServer.
type linkSockets struct {
	index  int // of the interface they were opened on
	prober *rawdhcp.ARPProber
	watch  *rawdhcp.ServerWatch
	cancel context.CancelFunc
	done   chan struct{}
}

// open opens the sockets on ifname for srv; without an interface name it opens none. Call
// it in the interface's network namespace.
func (l *linkSockets) open(ifname string, srv *dhcpd.Server) error {
	if ifname == "" {
		return nil
	}
	ifi, err := rawdhcp.LookupLink(ifname)
	if err != nil {
		return err
	}
	cfg := srv.Config()
	if cfg.ProbeWait > 0 && cfg.Begin.IsValid() {
		if l.prober, err = rawdhcp.OpenARPProber(ifname, cfg.ServerIP); err != nil {
			return err
		}
		srv.SetProber(l.prober)
	}
	if l.watch, err = rawdhcp.OpenServerWatch(ifname); err != nil {
		l.close(srv)
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func(w *rawdhcp.ServerWatch, done chan struct{}) {
		defer close(done)
		w.Run(ctx, cfg.ServerIP, srv.SawServer)
	}(l.watch, l.done)
	l.index = ifi.Index
	return nil
}

// reattach reopens the sockets when ifname was deleted and created again since they were
// opened (its index changed): packet sockets bound to a deleted interface stay open but
// neither send nor hear anything. It reports whether it reopened them.
func (l *linkSockets) reattach(ifname string, srv *dhcpd.Server) (bool, error) {
	if ifname == "" {
		return false, nil
	}
	ifi, err := rawdhcp.LookupLink(ifname)
	if err != nil {
		return false, err
	}
	if ifi.Index == l.index {
		return false, nil
	}
	_ = l.close(srv)
	return true, l.open(ifname, srv)
}

// close closes the sockets (waiting for the watch's reader) and takes the prober from srv.
func (l *linkSockets) close(srv *dhcpd.Server) error {
	var err error
	if l.prober != nil {
		srv.SetProber(nil)
		err = l.prober.Close()
		l.prober = nil
	}
	if l.watch != nil {
		l.cancel()
		if e := l.watch.Close(); err == nil {
			err = e
		}
		<-l.done
		l.watch = nil
	}
	l.index = 0
	return err
}

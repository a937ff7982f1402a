package dhcpd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Reply says what Handle put in its response message.
type Reply uint8

// Reply kinds. Their String is the event bus's Msg.
const (
	NoReply    Reply = iota // nothing to send
	ReplyOffer              // OFFER with an address
	ReplyAck                // ACK of a lease
	ReplyNak
	ReplyInform     // ACK to an INFORM: options, no lease
	ReplyProxyOffer // ProxyDHCP OFFER on port 67 (yiaddr 0)
	ReplyProxyAck   // ProxyDHCP ACK (port 4011, or port 67 for a REQUEST naming us)

	// replyDeferred: the answer waits for an ARP probe or a durable lease write, and
	// ServeDHCP will finish the request
	// on its own goroutine (see ServeDHCP). Never returned to callers of Handle.
	replyDeferred
)

var replyNames = [...]string{"", "OFFER", "ACK", "NAK", "ACK", "PROXY-OFFER", "PROXY-ACK"}

// String returns the event name of the reply.
func (r Reply) String() string {
	if int(r) < len(replyNames) {
		return replyNames[r]
	}
	return "?"
}

// client is what the server knows about the sender of one request.
type client struct {
	id       string // option 61 if sent, else htype 1 + MAC
	sentID   bool   // the client sent option 61
	mac      [6]byte
	resv     Reservation
	hasResv  bool
	hostname string // option 12 from the reservation, else from the client
	relayed  bool   // came through a relay agent: not on our link, so no ARP probe
	known    bool   // holds a lease here or a reservation
}

// hw returns a copy of the MAC for the lease store. A copy, not a slice of c.mac: handing
// the store (an interface) a slice of c would move every request's client to the heap.
func (c *client) hw() net.HardwareAddr { return append(net.HardwareAddr(nil), c.mac[:]...) }

// Handle is the server's logic for one request that arrived on server port port (67, or
// 4011 for the PXE boot-server service). It fills resp with the reply and says what it
// is; NoReply means send nothing. Everything durable (a new lease) is on disk before it
// returns a ReplyAck or a committed-at-OFFER ReplyOffer. The caller sends resp and then
// calls Sent to publish the event.
func (s *Server) Handle(ctx context.Context, req *rawdhcp.Message, port uint16, resp *rawdhcp.Message) Reply {
	var d boot.Decision
	return s.handle(ctx, req, port, resp, &d)
}

// handle is Handle that also leaves the boot decision the reply was built from in d.
func (s *Server) handle(ctx context.Context, req *rawdhcp.Message, port uint16, resp *rawdhcp.Message, d *boot.Decision) Reply {
	rerun := ctx.Value(rerunKey{}) != nil
	if !rerun {
		s.st.received.Add(1)
	}
	if s.paused.Load() {
		return NoReply
	}
	typ, ok := req.MessageType()
	if req.Op != rawdhcp.BootRequest || !ok || req.HLen != 6 || req.HType != 1 {
		// Plain BOOTP, replies (ours or others'), and non-Ethernet clients.
		s.st.dropped.Add(1)
		s.debug("dhcp: dropped foreign packet", "op", req.Op, "type", typ, "htype", req.HType, "hlen", req.HLen)
		return NoReply
	}
	if !rerun && typ >= rawdhcp.Discover && typ <= rawdhcp.Inform {
		s.st.byType[typ].Add(1)
	}
	if !rerun {
		s.obs.logRequest(typ, req, port)
	}
	mac := req.MAC()
	now := s.now()
	if gi := req.GIAddr; gi.IsValid() && !gi.IsUnspecified() && !s.cfg.Subnet.Contains(gi) {
		s.st.dropped.Add(1)
		s.debug("dhcp: relayed request for a subnet we do not serve", "giaddr", gi, "mac", macString(mac))
		return NoReply
	}

	// The client's identity: option 61 when sent, else htype 1 + MAC. A known client's
	// id string is reused from its binding (map lookups by string(bytes) do not allocate).
	cid := req.ClientID()
	var kbuf [7]byte
	key := cid
	if len(key) == 0 {
		kbuf[0] = 1
		copy(kbuf[1:], mac[:])
		key = kbuf[:]
	}
	resv, hasResv, id, known := s.addr.identify(mac, key)
	if id == "" {
		id = string(key)
	}
	if !rerun && !s.rate.allow(mac, known, now) {
		s.st.limited.Add(1)
		return NoReply
	}
	if s.cfg.Whitelist && !hasResv {
		s.st.ignored.Add(1)
		s.debug("dhcp: not in the whitelist", "mac", macString(mac))
		return NoReply
	}
	c := client{id: id, sentID: len(cid) > 0, mac: mac, resv: resv, hasResv: hasResv, known: known}
	c.relayed = req.GIAddr.IsValid() && !req.GIAddr.IsUnspecified()
	switch {
	case hasResv && resv.Hostname != "":
		c.hostname = resv.Hostname
	default:
		if h := req.Hostname(); len(h) > 0 && len(h) < 64 {
			c.hostname = string(h)
		}
	}

	if port == boot.PortPXE {
		if typ != rawdhcp.Request && typ != rawdhcp.Inform {
			s.st.ignored.Add(1)
			return NoReply
		}
		return s.proxyAck(req, &c, port, resp, d)
	}
	if s.Mode() == ModeProxy {
		switch typ {
		case rawdhcp.Discover:
			return s.proxyOffer(req, &c, resp, d)
		case rawdhcp.Request:
			if sid, ok := req.ServerID(); ok && sid == s.cfg.ServerIP {
				return s.proxyAck(req, &c, port, resp, d)
			}
		}
		s.st.ignored.Add(1)
		return NoReply
	}
	switch typ {
	case rawdhcp.Discover:
		return s.discover(ctx, req, &c, now, resp, d)
	case rawdhcp.Request:
		return s.request(ctx, req, &c, now, resp, d)
	case rawdhcp.Decline:
		s.decline(ctx, req, &c, now)
	case rawdhcp.Release:
		s.release(ctx, req, &c, now)
	case rawdhcp.Inform:
		return s.inform(req, &c, resp, d)
	default:
		s.st.dropped.Add(1)
	}
	return NoReply
}

// decide asks the boot policy about this request.
func (s *Server) decide(req *rawdhcp.Message, c *client, kind boot.MsgKind, mode boot.Mode, port uint16) boot.Decision {
	f := boot.Facts{
		Msg:         kind,
		Mode:        mode,
		Port:        port,
		VendorClass: bytesView(req.VendorClass()),
		UserClass:   req.UserClass(),
		Has175:      req.Options.Has(rawdhcp.OptIPXEEncap),
		MAC:         c.mac,
		GIAddr:      req.GIAddr,
	}
	ab := archBufs.Get().(*[8]uint16)
	defer archBufs.Put(ab)
	f.Arch, _ = req.ClientArchs(ab[:0])
	f.Opt97, _ = req.ClientMachineID()
	cfg := *s.boot.Load()
	if c.hasResv && c.resv.ROM != "" {
		cfg.ROM = c.resv.ROM
	}
	cfg.SecureBoot = s.secureBoot(c, &f, cfg.SecureBoot)
	return boot.Decide(f, cfg)
}

// secureBoot says whether c is a Secure Boot machine: its reservation's "secureboot", else
// its profile, else the server-wide setting def.
func (s *Server) secureBoot(c *client, f *boot.Facts, def bool) bool {
	if c.hasResv && c.resv.SecureBoot != nil {
		return *c.resv.SecureBoot
	}
	if s.cfg.SecureBootFor != nil {
		arch, known := f.ClientArch()
		if on, ok := s.cfg.SecureBootFor(c.mac, c.resv.Group, arch, known); ok {
			return on
		}
	}
	return def
}

// archBufs hold option 93's architectures while the boot policy reads them (the decision
// keeps none of them), so that a PXE client's request allocates nothing.
var archBufs = sync.Pool{New: func() any { return new([8]uint16) }}

// bytesView returns b as a string without copying, for the boot policy to read during the
// request: it classifies option 60 and keeps no part of it in its decision, and b (the
// request's option store) is not changed while the request is handled.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// discover answers a DISCOVER in full mode.
func (s *Server) discover(ctx context.Context, req *rawdhcp.Message, c *client, now time.Time, resp *rawdhcp.Message, d *boot.Decision) Reply {
	if !c.known && s.addr.storeDegraded(now) {
		// A new lease could not be made durable: offering one would only end in a refused
		// REQUEST. Known clients go on (their renewals live in memory until space returns).
		s.st.storeFull.Add(1)
		return NoReply
	}
	requested, _ := req.RequestedIP()
	ip, ok, deferred := s.addr.chooseOffer(ctx, c, requested, now, ctx.Value(deferKey{}) != nil)
	if deferred {
		return replyDeferred
	}
	if !ok {
		s.st.exhausted.Add(1)
		s.addr.warnExhausted(c, now)
		return NoReply
	}
	*d = s.decide(req, c, boot.Discover, boot.Full, boot.PortDHCP)
	if d.CommitAtOffer && !s.addr.holdsLease(c, u32(ip), now) {
		// The Pi 3 ROM boots from the OFFER and never REQUESTs: the OFFER is its ACK. The
		// lease is short, since anyone can send such a DISCOVER from a new MAC and the pool
		// must not empty for a day; a REQUEST (Pi 4/5, or the OS later) makes it a full one.
		exp := now.Add(min(s.cfg.LeaseTime, offerCommitLease))
		if !s.commit(ctx, c, ip, exp, now) {
			return NoReply
		}
		s.addr.markProvisional(c, u32(ip))
	}
	s.replies.full(resp, req, rawdhcp.Offer, ip, c, d, true)
	return ReplyOffer
}

// request answers a REQUEST in full mode (RFC 2131 §4.3.2).
func (s *Server) request(ctx context.Context, req *rawdhcp.Message, c *client, now time.Time, resp *rawdhcp.Message, d *boot.Decision) Reply {
	sid, hasSid := req.ServerID()
	reqIP, hasReq := req.RequestedIP()
	ci := req.CIAddr
	hasCI := ci.IsValid() && !ci.IsUnspecified()
	var ip netip.Addr
	switch {
	case hasSid && sid != s.cfg.ServerIP:
		// SELECTING another server's offer: ours is free again.
		s.addr.dropOffer(c)
		s.st.ignored.Add(1)
		return NoReply
	case hasSid && hasReq:
		ip = reqIP // SELECTING us
	case hasSid && hasCI:
		ip = ci // a non-conforming client renewing with option 54
	case hasReq:
		ip = reqIP // INIT-REBOOT
	case hasCI:
		ip = ci // RENEWING or REBINDING
	default:
		s.st.dropped.Add(1)
		return NoReply
	}
	if !ip.Is4() || !s.cfg.Subnet.Contains(ip) {
		if hasSid || s.cfg.Authoritative {
			s.replies.nak(resp, req, "address not on this network")
			return ReplyNak
		}
		s.st.ignored.Add(1)
		return NoReply
	}
	exp := now.Add(s.cfg.LeaseTime)
	// A new lease waits for its durable write on a goroutine of its own, so the serve
	// loop's workers keep reading and many leases share one fsync.
	wait := s.cfg.Store != nil && ctx.Value(deferKey{}) != nil
	g := s.addr.request(c, u32(ip), now, exp, wait)
	switch g {
	case grantWait:
		return replyDeferred
	case grantRefused:
		if hasSid || s.cfg.Authoritative {
			s.replies.nak(resp, req, "requested address not available")
			return ReplyNak
		}
		s.st.ignored.Add(1)
		return NoReply
	}
	renewal := g == grantRenewal
	if renewal && s.cfg.Store != nil {
		// Only the expiry moves: a lazy, batched write (see pkg/lease's loss window).
		if err := s.cfg.Store.Touch(c.hw(), exp); err != nil {
			renewal = false
		}
	}
	if !renewal || s.cfg.Store == nil {
		if !s.commit(ctx, c, ip, exp, now) {
			return NoReply
		}
	}
	what := "granted"
	if renewal {
		what = "renewed"
	}
	s.obs.publish(events.LeaseChanged, what, c.mac, ip)
	*d = s.decide(req, c, boot.Request, boot.Full, boot.PortDHCP)
	s.replies.full(resp, req, rawdhcp.Ack, ip, c, d, true)
	if hasCI {
		resp.CIAddr = ci // RFC 2131 table 3: ciaddr from the REQUEST
	}
	return ReplyAck
}

// commit makes c's lease on ip durable; on failure the address goes back to offered and
// no ACK is sent (the client retries).
func (s *Server) commit(ctx context.Context, c *client, ip netip.Addr, exp, now time.Time) bool {
	if s.cfg.Store == nil {
		s.addr.bind(c, u32(ip), exp)
		return true
	}
	l := lease.Lease{MAC: c.hw(), IP: ip, Expiry: exp, Hostname: c.hostname, State: lease.Bound}
	if c.sentID {
		l.ClientID = []byte(c.id)
	}
	cctx, cancel := s.commitContext(ctx)
	err := s.cfg.Store.Commit(cctx, l)
	cancel()
	if err != nil {
		s.st.commitErrors.Add(1)
		s.drops.Log(s.log, slog.LevelError, now, "dhcp: lease not durable; no ACK sent", "ip", ip, "mac", macString(c.mac), "err", err)
		s.addr.unbind(c, u32(ip), now.Add(s.cfg.OfferHold))
		return false
	}
	s.addr.bind(c, u32(ip), exp)
	return true
}

// decline quarantines an address a client found in use (RFC 2131 §4.3.3).
func (s *Server) decline(ctx context.Context, req *rawdhcp.Message, c *client, now time.Time) {
	if sid, ok := req.ServerID(); ok && sid != s.cfg.ServerIP {
		s.st.ignored.Add(1)
		return
	}
	ip, ok := req.RequestedIP()
	if !ok || !ip.Is4() {
		s.st.dropped.Add(1)
		return
	}
	u := u32(ip)
	until := now.Add(s.cfg.DeclineQuarantine)
	if !s.addr.decline(c, u, now, until) {
		s.st.ignored.Add(1)
		return
	}
	s.st.declines.Add(1)
	s.log.Warn("dhcp: client declined its address (in use by someone else); quarantined", "ip", ip, "mac", macString(c.mac), "until", until)
	if s.cfg.Store != nil {
		cctx, cancel := s.commitContext(ctx)
		if err := s.cfg.Store.Commit(cctx, lease.Lease{IP: ip, MAC: c.hw(), Expiry: until, State: lease.Declined}); err != nil {
			s.log.Error("dhcp: could not record the decline", "ip", ip, "err", err)
		}
		cancel()
	}
	s.obs.publish(events.LeaseChanged, "declined", c.mac, ip)
}

// release ends a lease early (RFC 2131 §4.3.4).
func (s *Server) release(ctx context.Context, req *rawdhcp.Message, c *client, now time.Time) {
	if sid, ok := req.ServerID(); ok && sid != s.cfg.ServerIP {
		s.st.ignored.Add(1)
		return
	}
	ip := req.CIAddr
	if !ip.Is4() || ip.IsUnspecified() {
		s.st.dropped.Add(1)
		return
	}
	if !s.addr.release(c, u32(ip), now) {
		s.st.ignored.Add(1)
		return
	}
	s.st.releases.Add(1)
	if s.cfg.Store != nil {
		l := lease.Lease{MAC: c.hw(), IP: ip, Expiry: now, Hostname: c.hostname, State: lease.Released}
		cctx, cancel := s.commitContext(ctx)
		if err := s.cfg.Store.Commit(cctx, l); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("dhcp: could not record the release", "ip", ip, "err", err)
		}
		cancel()
	}
	s.obs.publish(events.LeaseChanged, "released", c.mac, ip)
}

// inform answers an INFORM: configuration for a client that has its address (§4.3.5).
func (s *Server) inform(req *rawdhcp.Message, c *client, resp *rawdhcp.Message, d *boot.Decision) Reply {
	if !req.CIAddr.IsValid() || req.CIAddr.IsUnspecified() {
		s.st.dropped.Add(1)
		return NoReply
	}
	*d = s.decide(req, c, boot.Inform, boot.Full, boot.PortDHCP)
	s.replies.full(resp, req, rawdhcp.Ack, netip.IPv4Unspecified(), c, d, false)
	resp.CIAddr = req.CIAddr
	return ReplyInform
}

// proxyOffer answers a DISCOVER in proxy mode: boot information only, to PXE/HTTP clients.
func (s *Server) proxyOffer(req *rawdhcp.Message, c *client, resp *rawdhcp.Message, d *boot.Decision) Reply {
	*d = s.decide(req, c, boot.Discover, boot.Proxy, boot.PortDHCP)
	if !d.Boot {
		s.st.ignored.Add(1)
		s.debug("dhcp: proxy mode: not answering", "mac", macString(c.mac), "kind", d.Kind, "reason", d.Reason)
		return NoReply
	}
	s.replies.proxy(resp, req, rawdhcp.Offer, d)
	return ReplyProxyOffer
}

// proxyAck answers a REQUEST (or INFORM) on port 4011, or a port-67 REQUEST naming us in
// proxy mode: boot information, no address.
func (s *Server) proxyAck(req *rawdhcp.Message, c *client, port uint16, resp *rawdhcp.Message, d *boot.Decision) Reply {
	*d = s.decide(req, c, boot.Request, boot.Proxy, port)
	if !d.Boot {
		s.st.ignored.Add(1)
		s.debug("dhcp: proxy request: not answering", "mac", macString(c.mac), "port", port, "kind", d.Kind, "reason", d.Reason)
		return NoReply
	}
	s.replies.proxy(resp, req, rawdhcp.Ack, d)
	resp.CIAddr = req.CIAddr
	if !resp.CIAddr.IsValid() {
		resp.CIAddr = netip.IPv4Unspecified()
	}
	return ReplyProxyAck
}

package dhcpd

import (
	"context"
	"net/netip"
	"time"
)

const maxProbeRounds = 4

// offerCommitLease is how long a lease committed at the OFFER lasts: long enough for a Pi
// bootloader to load its files over TFTP, short enough that a flood of such DISCOVERs
// gives its addresses back soon.
const offerCommitLease = 5 * time.Minute

// holdsLease reports whether c already holds a full (REQUESTed) unexpired lease on ip that
// lasts at least as long as a commit at the OFFER would: committing again would only
// shorten it.
func (s *Server) holdsLease(c *client, ip uint32, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.pool.byIP[ip]
	return b != nil && b.id == c.id && b.state == stBound && !b.provisional &&
		!b.expires.Before(now.Add(min(s.cfg.LeaseTime, offerCommitLease)))
}

// chooseOffer picks an address for c and sets it aside as offered, ARP-probing addresses
// nobody holds a lease on.
func (s *Server) chooseOffer(ctx context.Context, c *client, requested netip.Addr, now time.Time) (ip netip.Addr, ok, deferred bool) {
	mayDefer := ctx.Value(deferKey{}) != nil
	var resvIP netip.Addr
	if c.hasResv {
		resvIP = c.resv.IP
	}
	var skipBuf [maxProbeRounds]uint32
	skip := skipBuf[:0]
	for range maxProbeRounds {
		s.mu.Lock()
		r := s.pool.pick(c.id, c.mac, resvIP, requested, now, skip)
		if !r.ok {
			// Nothing free: a client that asked before may take the oldest offer nobody
			// REQUESTed; a MAC asking for the first time (a flood's) gets nothing.
			if s.retries.seen(c.mac, now) {
				if ip, ok := s.pool.stealOffer(c.id, c.mac); ok {
					s.st.stolen.Add(1)
					s.holdOffer(ip, c, now)
					s.mu.Unlock()
					return a4(ip), true, false
				}
			}
			s.mu.Unlock()
			return netip.Addr{}, false, false
		}
		pr := s.getProber()
		if !r.probe || pr == nil || c.relayed {
			s.holdOffer(r.ip, c, now)
			s.mu.Unlock()
			return a4(r.ip), true, false
		}
		s.mu.Unlock()
		if _, cached := s.pcache.get(r.ip, now); !cached && mayDefer {
			return netip.Addr{}, false, true
		}
		if s.inUse(ctx, pr, r.ip, now) {
			s.st.conflicts.Add(1)
			s.mu.Lock()
			s.pool.mark(r.ip, stConflict, now.Add(s.cfg.ConflictHold))
			s.mu.Unlock()
			s.log.Warn("dhcp: address answered the ARP probe; not offering it", "ip", a4(r.ip), "hold", s.cfg.ConflictHold)
			skip = append(skip, r.ip)
			continue
		}
		s.mu.Lock()
		if s.pool.free(r.ip, c.id, c.mac, now) {
			s.holdOffer(r.ip, c, now)
			s.mu.Unlock()
			return a4(r.ip), true, false
		}
		s.mu.Unlock()
		skip = append(skip, r.ip) // taken by a concurrent DISCOVER while we probed
	}
	return netip.Addr{}, false, false
}

// holdOffer marks ip offered to c, unless c already holds it as an active lease.
func (s *Server) holdOffer(ip uint32, c *client, now time.Time) {
	if b := s.pool.byIP[ip]; b != nil && b.id == c.id && b.state == stBound && now.Before(b.expires) {
		return
	}
	s.pool.set(ip, c.id, c.mac, c.hostname, stOffered, now.Add(s.cfg.OfferHold))
}

// inUse ARP-probes ip, using the cache.
func (s *Server) inUse(ctx context.Context, pr Prober, ip uint32, now time.Time) bool {
	if v, ok := s.pcache.get(ip, now); ok {
		return v
	}
	s.st.probes.Add(1)
	used, err := pr.Probe(ctx, a4(ip), s.cfg.ProbeWait)
	if err != nil {
		s.debug("dhcp: arp probe failed", "ip", a4(ip), "err", err)
		return false
	}
	s.pcache.put(ip, used, now)
	return used
}

func (s *Server) warnExhausted(c *client, now time.Time) {
	s.mu.Lock()
	warn := now.Sub(s.exhaustedWarn) >= s.cfg.WarnInterval || s.exhaustedWarn.IsZero()
	if warn {
		s.exhaustedWarn = now
	}
	size := s.pool.size()
	s.mu.Unlock()
	if warn {
		s.log.Warn("dhcp: address pool exhausted; new clients get no OFFER", "pool", size, "begin", s.cfg.Begin, "end", s.cfg.End, "mac", macString(c.mac))
	}
}

// acceptable reports whether c may have address u now. Called with s.mu held.
func (s *Server) acceptable(c *client, u uint32, now time.Time) bool {
	if c.hasResv {
		if u == u32(c.resv.IP) {
			return !s.pool.heldByOther(u, c.id, now)
		}
		// Its reservation was unusable (declined, in use) and we offered a pool address
		// instead: that one, and only that one, is fine.
		b := s.pool.byIP[u]
		return s.pool.inRange(u) && b != nil && b.id == c.id && (b.state == stOffered || b.state == stBound)
	}
	return s.pool.inRange(u) && s.pool.free(u, c.id, c.mac, now)
}

// storeDegraded reports whether the lease store cannot write now (a full disk), and logs
// it, with the store's reason, at most once per WarnInterval while it lasts.
func (s *Server) storeDegraded(now time.Time) bool {
	if s.cfg.Store == nil {
		return false
	}
	h := s.cfg.Store.Health()
	if !h.Degraded {
		return false
	}
	s.mu.Lock()
	warn := s.storeWarn.IsZero() || now.Sub(s.storeWarn) >= s.cfg.WarnInterval
	if warn {
		s.storeWarn = now
	}
	s.mu.Unlock()
	if warn {
		s.log.Error("dhcp: the lease store cannot write; new clients get no offer until it can (known clients are still served)",
			"err", h.Err, "since", h.Since, "refused", h.Refused, "next_retry", h.NextRetry)
	}
	return true
}

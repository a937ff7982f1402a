package dhcpd

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

const maxProbeRounds = 4

// offerCommitLease is how long a lease committed at the OFFER lasts: long enough for a Pi
// bootloader to load its files over TFTP, short enough that a flood of such DISCOVERs
// gives its addresses back soon.
const offerCommitLease = 5 * time.Minute

// addresses is how an address is chosen and held: the pool, the static reservations, the
// ARP check of addresses nobody holds, and the rule that a flood's new MACs cannot take an
// offer back. It owns the lock over the pool and the reservations; the request path
// (handle.go) asks it questions and never touches the pool itself.
type addresses struct {
	cfg *Config
	log *slog.Logger
	st  *stats
	arp arpCheck

	mu            sync.Mutex
	pool          *pool
	resv          *Reservations
	retries       retryFilter // who asked before, when the pool has nothing free
	exhaustedWarn time.Time
	storeWarn     time.Time // last "lease store cannot write" line
	lastSweep     time.Time
}

func (a *addresses) init(cfg *Config, log *slog.Logger, debug func(string, ...any), st *stats) {
	a.cfg, a.log, a.st = cfg, log, st
	a.arp.init(cfg, debug, st)
	a.pool = newPool(cfg.Begin, cfg.End)
	a.resv = cfg.Reservations
	a.pool.setReserved(cfg.Reservations)
}

// identify finds the sender of a request: its reservation by MAC and, when it holds a
// binding under key (option 61, or htype 1 + MAC), the binding's id string, reused so a
// known client's request allocates none. known: it holds a lease or a reservation.
func (a *addresses) identify(mac [6]byte, key []byte) (resv Reservation, hasResv bool, id string, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	resv, hasResv = a.resv.Lookup(mac)
	known = hasResv
	if b := a.pool.byID[string(key)]; b != nil {
		id = b.id
		known = known || b.state == stBound
	}
	return resv, hasResv, id, known
}

// setReservations replaces the static reservations (already checked).
func (a *addresses) setReservations(r *Reservations) {
	a.mu.Lock()
	a.resv = r
	a.pool.setReserved(r)
	a.mu.Unlock()
}

// reservation returns mac's static binding.
func (a *addresses) reservation(mac [6]byte) (Reservation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resv.Lookup(mac)
}

// holdsLease reports whether c already holds a full (REQUESTed) unexpired lease on ip that
// lasts at least as long as a commit at the OFFER would: committing again would only
// shorten it.
func (a *addresses) holdsLease(c *client, ip uint32, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.pool.byIP[ip]
	return b != nil && b.id == c.id && b.state == stBound && !b.provisional &&
		!b.expires.Before(now.Add(min(a.cfg.LeaseTime, offerCommitLease)))
}

// chooseOffer picks an address for c and sets it aside as offered, ARP-probing addresses
// nobody holds a lease on. With mayDefer, a probe that would have to go on the wire is not
// made: deferred says so, and the caller runs the request again where it may wait.
func (a *addresses) chooseOffer(ctx context.Context, c *client, requested netip.Addr, now time.Time, mayDefer bool) (ip netip.Addr, ok, deferred bool) {
	var resvIP netip.Addr
	if c.hasResv {
		resvIP = c.resv.IP
	}
	var skipBuf [maxProbeRounds]uint32
	skip := skipBuf[:0]
	for range maxProbeRounds {
		a.mu.Lock()
		r := a.pool.pick(c.id, c.mac, resvIP, requested, now, skip)
		if !r.ok {
			// Nothing free: a client that asked before may take the oldest offer nobody
			// REQUESTed; a MAC asking for the first time (a flood's) gets nothing.
			if a.retries.seen(c.mac, now) {
				if ip, ok := a.pool.stealOffer(c.id, c.mac); ok {
					a.st.stolen.Add(1)
					a.holdOffer(ip, c, now)
					a.mu.Unlock()
					return a4(ip), true, false
				}
			}
			a.mu.Unlock()
			return netip.Addr{}, false, false
		}
		pr := a.arp.get()
		if !r.probe || pr == nil || c.relayed {
			a.holdOffer(r.ip, c, now)
			a.mu.Unlock()
			return a4(r.ip), true, false
		}
		a.mu.Unlock()
		if _, cached := a.arp.cache.get(r.ip, now); !cached && mayDefer {
			return netip.Addr{}, false, true
		}
		if a.arp.inUse(ctx, pr, r.ip, now) {
			a.st.conflicts.Add(1)
			a.mu.Lock()
			a.pool.mark(r.ip, stConflict, now.Add(a.cfg.ConflictHold))
			a.mu.Unlock()
			a.log.Warn("dhcp: address answered the ARP probe; not offering it", "ip", a4(r.ip), "hold", a.cfg.ConflictHold)
			skip = append(skip, r.ip)
			continue
		}
		a.mu.Lock()
		if a.pool.free(r.ip, c.id, c.mac, now) {
			a.holdOffer(r.ip, c, now)
			a.mu.Unlock()
			return a4(r.ip), true, false
		}
		a.mu.Unlock()
		skip = append(skip, r.ip) // taken by a concurrent DISCOVER while we probed
	}
	return netip.Addr{}, false, false
}

// holdOffer marks ip offered to c, unless c already holds it as an active lease. Called
// with a.mu held.
func (a *addresses) holdOffer(ip uint32, c *client, now time.Time) {
	if b := a.pool.byIP[ip]; b != nil && b.id == c.id && b.state == stBound && now.Before(b.expires) {
		return
	}
	a.pool.set(ip, c.id, c.mac, c.hostname, stOffered, now.Add(a.cfg.OfferHold))
}

// markProvisional notes that c's lease on ip was committed at the OFFER: short, so its
// REQUEST must write a full lease, not only move the expiry.
func (a *addresses) markProvisional(c *client, ip uint32) {
	a.mu.Lock()
	if b := a.pool.byIP[ip]; b != nil && b.id == c.id {
		b.provisional = true
	}
	a.mu.Unlock()
}

// dropOffer frees what was offered to c: it selected another server's offer.
func (a *addresses) dropOffer(c *client) {
	a.mu.Lock()
	if b := a.pool.byID[c.id]; b != nil && b.state == stOffered {
		a.pool.drop(b)
	}
	a.mu.Unlock()
}

// grant is the pool's answer to c's REQUEST for u.
type grant uint8

const (
	grantRefused grant = iota // not c's to have: NAK or silence
	grantNew                  // a new lease (or one committed at the OFFER): write it before the ACK
	grantRenewal              // c's active lease: only the expiry moves
	grantWait                 // a new lease that the caller chose to finish where it may wait
)

// request decides c's REQUEST for u and, for a lease it grants, binds it until exp. A new
// lease is not bound when wait is set: the caller runs the request again where it may wait
// for the durable write.
func (a *addresses) request(c *client, u uint32, now, exp time.Time, wait bool) grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.acceptable(c, u, now) {
		return grantRefused
	}
	b := a.pool.byIP[u]
	// A lease committed at the OFFER is short: extending it is a new lease, written
	// before the ACK like any other.
	renewal := b != nil && b.id == c.id && b.state == stBound && !b.provisional && now.Before(b.expires)
	if !renewal && wait {
		return grantWait
	}
	a.pool.set(u, c.id, c.mac, c.hostname, stBound, exp)
	if renewal {
		return grantRenewal
	}
	return grantNew
}

// acceptable reports whether c may have address u now. Called with a.mu held.
func (a *addresses) acceptable(c *client, u uint32, now time.Time) bool {
	if c.hasResv {
		if u == u32(c.resv.IP) {
			return !a.pool.heldByOther(u, c.id, now)
		}
		// Its reservation was unusable (declined, in use) and we offered a pool address
		// instead: that one, and only that one, is fine.
		b := a.pool.byIP[u]
		return a.pool.inRange(u) && b != nil && b.id == c.id && (b.state == stOffered || b.state == stBound)
	}
	return a.pool.inRange(u) && a.pool.free(u, c.id, c.mac, now)
}

// bind records c's lease on u until exp.
func (a *addresses) bind(c *client, u uint32, exp time.Time) {
	a.mu.Lock()
	a.pool.set(u, c.id, c.mac, c.hostname, stBound, exp)
	a.mu.Unlock()
}

// unbind gives u back as an offer held until until, when c's lease on it could not be
// made durable: the client retries and finds it again.
func (a *addresses) unbind(c *client, u uint32, until time.Time) {
	a.mu.Lock()
	if b := a.pool.byIP[u]; b != nil && b.id == c.id {
		a.pool.unoffer(b, until)
	}
	a.mu.Unlock()
}

// decline quarantines u until until if c holds it (offered or bound), and reports whether
// it did.
func (a *addresses) decline(c *client, u uint32, now, until time.Time) bool {
	a.mu.Lock()
	b := a.pool.byIP[u]
	mine := b != nil && b.id == c.id && (b.state == stOffered || b.state == stBound)
	if mine {
		a.pool.mark(u, stDeclined, until)
	}
	a.mu.Unlock()
	if mine {
		a.arp.cache.put(u, true, now)
	}
	return mine
}

// release ends c's lease on u, and reports whether c held it.
func (a *addresses) release(c *client, u uint32, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pool.release(u, c.id, now)
}

// adopt binds u to c until exp if neither is known and c may have u (a PyPXE lease file),
// and reports whether it did.
func (a *addresses) adopt(c *client, u uint32, exp, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.pool.byID[c.id] == nil && a.pool.byIP[u] == nil && a.acceptable(c, u, now)
	if ok {
		a.pool.set(u, c.id, c.mac, "", stBound, exp)
	}
	return ok
}

// warnExhausted logs that the pool has nothing for c, at most once per WarnInterval.
func (a *addresses) warnExhausted(c *client, now time.Time) {
	a.mu.Lock()
	warn := now.Sub(a.exhaustedWarn) >= a.cfg.WarnInterval || a.exhaustedWarn.IsZero()
	if warn {
		a.exhaustedWarn = now
	}
	size := a.pool.size()
	a.mu.Unlock()
	if warn {
		a.log.Warn("dhcp: address pool exhausted; new clients get no OFFER", "pool", size, "begin", a.cfg.Begin, "end", a.cfg.End, "mac", macString(c.mac))
	}
}

// storeDegraded reports whether the lease store cannot write now (a full disk), and logs
// it, with the store's reason, at most once per WarnInterval while it lasts.
func (a *addresses) storeDegraded(now time.Time) bool {
	if a.cfg.Store == nil {
		return false
	}
	h := a.cfg.Store.Health()
	if !h.Degraded {
		return false
	}
	a.mu.Lock()
	warn := a.storeWarn.IsZero() || now.Sub(a.storeWarn) >= a.cfg.WarnInterval
	if warn {
		a.storeWarn = now
	}
	a.mu.Unlock()
	if warn {
		a.log.Error("dhcp: the lease store cannot write; new clients get no offer until it can (known clients are still served)",
			"err", h.Err, "since", h.Since, "refused", h.Refused, "next_retry", h.NextRetry)
	}
	return true
}

// usage returns the pool's size, the addresses in use at now, and the reservations.
func (a *addresses) usage(now time.Time) (size, inUse, reservations int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pool.size(), a.pool.inUse(now), a.resv.Len()
}

// expiredSince returns the leases that ran out between the previous call and now.
func (a *addresses) expiredSince(now time.Time) []expired {
	var out []expired
	a.mu.Lock()
	since := a.lastSweep
	a.lastSweep = now
	for ip, b := range a.pool.byIP {
		if b.state == stBound && !b.expires.After(now) && b.expires.After(since) && b.id != "" {
			out = append(out, expired{b.mac, a4(ip)})
		}
	}
	a.mu.Unlock()
	return out
}

// expired is a lease that ran out.
type expired struct {
	mac [6]byte
	ip  netip.Addr
}

// load fills the table from the store's leases at start, and reports how many it kept
// and skipped.
func (a *addresses) load(ls []lease.Lease, now time.Time) (kept, skipped int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range ls {
		if !l.IP.Is4() {
			skipped++
			continue
		}
		ip := u32(l.IP)
		if l.State == lease.Declined {
			if now.Before(l.Expiry) && a.cfg.Subnet.Contains(l.IP) {
				a.pool.mark(ip, stDeclined, l.Expiry)
				kept++
			}
			continue
		}
		if len(l.MAC) != 6 {
			skipped++
			continue
		}
		mac := [6]byte(l.MAC)
		r, reserved := a.pool.reserved[ip]
		if reserved && r != mac || !reserved && !a.pool.inRange(ip) {
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
		b := a.pool.set(ip, id, mac, l.Hostname, st, exp)
		// A lease this short may be one committed at the OFFER: its REQUEST must write a
		// full lease, not only move the expiry.
		b.provisional = st == stBound && exp.Sub(now) <= offerCommitLease
		kept++
	}
	return kept, skipped
}

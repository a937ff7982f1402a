package dhcpd

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Prober answers "does anyone on the link use this address?" before an address nobody
// holds a lease on is offered: *rawdhcp.ARPProber on the served interface. The server
// does no link-layer I/O of its own.
type Prober interface {
	// Probe reports whether ip answered within wait.
	Probe(ctx context.Context, ip netip.Addr, wait time.Duration) (bool, error)
}

// probeCache remembers recent probe results so a client retrying its DISCOVER does not pay
// the wait again, and a flood cannot make us probe the same address over and over.
type probeCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[uint32]probeEntry
}

type probeEntry struct {
	inUse bool
	at    time.Time
}

const probeCacheMax = 8192

func newProbeCache(ttl time.Duration) *probeCache {
	return &probeCache{ttl: ttl, m: make(map[uint32]probeEntry)}
}

func (c *probeCache) get(ip uint32, now time.Time) (inUse, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[ip]
	if !ok || now.Sub(e.at) >= c.ttl {
		return false, false
	}
	return e.inUse, true
}

func (c *probeCache) put(ip uint32, inUse bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= probeCacheMax {
		for k, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		if len(c.m) >= probeCacheMax {
			clear(c.m)
		}
	}
	c.m[ip] = probeEntry{inUse: inUse, at: now}
}

// arpCheck asks the link whether an address is taken before it is offered: the prober the
// link layer gave (swapped when the interface comes back) and the cache of its answers.
type arpCheck struct {
	cfg   *Config
	debug func(msg string, args ...any) // the server's rate-limited debug line
	st    *stats
	cache *probeCache

	mu     sync.RWMutex // guards prober against set
	prober Prober
}

func (c *arpCheck) init(cfg *Config, debug func(string, ...any), st *stats) {
	c.cfg, c.debug, c.st = cfg, debug, st
	c.cache = newProbeCache(cfg.ProbeCache)
}

// set replaces the prober (nil: offer without probing).
func (c *arpCheck) set(p Prober) {
	c.mu.Lock()
	c.prober = p
	c.mu.Unlock()
}

// get returns the current prober (nil: no probing).
func (c *arpCheck) get() Prober {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.prober
}

// inUse ARP-probes ip with pr, using the cache. A failed probe counts as "free": the
// client's own check (DECLINE) is the last word.
func (c *arpCheck) inUse(ctx context.Context, pr Prober, ip uint32, now time.Time) bool {
	if v, ok := c.cache.get(ip, now); ok {
		return v
	}
	c.st.probes.Add(1)
	used, err := pr.Probe(ctx, a4(ip), c.cfg.ProbeWait)
	if err != nil {
		c.debug("dhcp: arp probe failed", "ip", a4(ip), "err", err)
		return false
	}
	c.cache.put(ip, used, now)
	return used
}

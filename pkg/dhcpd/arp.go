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

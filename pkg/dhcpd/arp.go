package dhcpd

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// prober answers "does anyone on the link use this address?" The Linux implementation
// sends ARP requests on an AF_PACKET socket opened at construction (so it lives in the
// namespace the server was created in).
type prober interface {
	// probe reports whether ip answered within wait.
	probe(ctx context.Context, ip netip.Addr, wait time.Duration) (bool, error)
	close() error
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

// arpSender reads an ARP packet for IPv4 over Ethernet (the payload after the Ethernet
// header) and returns the sender's protocol address of a request or reply: a host that
// sends either uses that address. ok is false for anything else.
func arpSender(b []byte) (sender netip.Addr, ok bool) {
	if len(b) < 28 {
		return netip.Addr{}, false
	}
	if op := binary.BigEndian.Uint16(b[6:8]); op != 1 && op != 2 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[14:18])), true
}

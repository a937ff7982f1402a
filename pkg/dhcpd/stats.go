package dhcpd

import (
	"sync/atomic"
)

// stats are the server's counters (see Stats).
type stats struct {
	received, dropped, limited, ignored            atomic.Uint64
	offers, acks, naks, proxyOffers, proxyAcks     atomic.Uint64
	informs, declines, releases, exhausted, probes atomic.Uint64
	conflicts, commitErrors, panics, storeFull     atomic.Uint64
	stolen                                         atomic.Uint64
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
	Panics       uint64 // deferred request handlers (ARP probe, lease write) that panicked (recovered)
	StoreFull    uint64 // DISCOVERs of new clients left unanswered while the lease store could not write
	Stolen       uint64 // offers taken back for a returning client when the pool had nothing free
	// ByType counts well-formed requests by DHCP message type, indexed by the option 53
	// value (1 DISCOVER … 8 INFORM; 0 unused).
	ByType [9]uint64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.st
	st := Stats{
		Received: c.received.Load(), Dropped: c.dropped.Load(), RateLimited: c.limited.Load(),
		Ignored: c.ignored.Load(), Offers: c.offers.Load(), Acks: c.acks.Load(), Naks: c.naks.Load(),
		ProxyOffers: c.proxyOffers.Load(), ProxyAcks: c.proxyAcks.Load(), Informs: c.informs.Load(),
		Declines: c.declines.Load(), Releases: c.releases.Load(), Exhausted: c.exhausted.Load(),
		Probes: c.probes.Load(), Conflicts: c.conflicts.Load(), CommitErrors: c.commitErrors.Load(), Panics: c.panics.Load(), StoreFull: c.storeFull.Load(), Stolen: c.stolen.Load(),
	}
	for i := range st.ByType {
		st.ByType[i] = c.byType[i].Load()
	}
	return st
}

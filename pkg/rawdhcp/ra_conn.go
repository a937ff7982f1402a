package rawdhcp

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// RAConfig configures ListenRA.
type RAConfig struct {
	// Allow holds the clients to answer (required). The caller fills it, e.g. with the MACs
	// of clients whose DHCP requests came from iPXE; it may outlive the RAConn.
	Allow *AllowList
	// Gap is the least time between two advertisements to one client (default DefaultRAGap):
	// iPXE stops soliciting after the first answer, so a client that keeps asking gets no
	// more than one answer per Gap.
	Gap time.Duration
	// Pending bounds the solicitations from clients not (yet) allowed that are remembered
	// for PendingTTL, so that an Allow shortly after answers at once (default 256).
	Pending int
	// PendingTTL is how long such a solicitation stays answerable (default DefaultPendingTTL).
	PendingTTL time.Duration
	// RouterQuiet is how long the RAConn stays silent after it saw another router advertise
	// something (a router lifetime, a prefix, or DHCPv6): iPXE acts on the first
	// advertisement only, and on a link with a real IPv6 router that must be the router's
	// (default DefaultRouterQuiet).
	RouterQuiet time.Duration
	// Logger receives debug lines per advertisement and warnings; nil discards.
	Logger *slog.Logger
}

// Defaults for RAConfig.
const (
	DefaultRAGap      = time.Second
	DefaultPendingTTL = 10 * time.Second
	// DefaultRouterQuiet outlasts a router's longest interval between unsolicited
	// advertisements (RFC 4861 MaxRtrAdvInterval, at most 1800 s), so that silence on the
	// link is needed before answering again.
	DefaultRouterQuiet = 40 * time.Minute
	defaultPending     = 256
)

// RAStats are an RAConn's counters.
type RAStats struct {
	Solicitations uint64 // valid router solicitations received
	Advertised    uint64 // advertisements sent
	NotAllowed    uint64 // solicitations from clients not on the allow list (not answered)
	Limited       uint64 // solicitations from allowed clients inside Gap (not answered)
	Malformed     uint64 // frames that failed ParseRS
	SendErrors    uint64 // advertisements the socket refused
	Routers       uint64 // advertisements from another router that configure something
	Yielded       uint64 // solicitations not answered because another router was seen
}

type raCounters struct {
	solicitations, advertised, notAllowed, limited, malformed, sendErrors, routers, yielded atomic.Uint64
}

func (c *raCounters) snapshot() RAStats {
	return RAStats{
		Solicitations: c.solicitations.Load(), Advertised: c.advertised.Load(), NotAllowed: c.notAllowed.Load(),
		Limited: c.limited.Load(), Malformed: c.malformed.Load(), SendErrors: c.sendErrors.Load(),
		Routers: c.routers.Load(), Yielded: c.yielded.Load(),
	}
}

func (cfg *RAConfig) withDefaults() RAConfig {
	c := *cfg
	if c.Gap <= 0 {
		c.Gap = DefaultRAGap
	}
	if c.Pending <= 0 {
		c.Pending = defaultPending
	}
	if c.PendingTTL <= 0 {
		c.PendingTTL = DefaultPendingTTL
	}
	if c.RouterQuiet <= 0 {
		c.RouterQuiet = DefaultRouterQuiet
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

package daemon

import (
	"net"
	"sync"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// maxFacts bounds the per-client facts kept for the HTTP side; a lab has far fewer
// machines, and the oldest entry goes first when a flood of MACs arrives.
const maxFacts = 1024

// clientFacts is what a client's DHCP requests told about it, for per-client scripts and the
// dashboard: its architecture as the boot policy read it for the reply, and its option 97
// UUID (events.Machine).
type clientFacts struct {
	Arch      uint16
	ArchKnown bool
	Kind      string
	Platform  string
	BuildArch string
	UUID      string
	Chain     string // pkg/boot's Decision.Chain: "ipxe", or "shim" for a Secure Boot machine
}

// factsCache remembers the latest facts per MAC, bounded to maxFacts entries (FIFO).
type factsCache struct {
	mu    sync.Mutex
	m     map[[6]byte]clientFacts
	order [][6]byte
	next  int
}

func newFactsCache() *factsCache {
	return &factsCache{m: make(map[[6]byte]clientFacts), order: make([][6]byte, 0, maxFacts)}
}

// record keeps what a DHCP reply's event said about the client mac.
func (c *factsCache) record(mac [6]byte, m events.Machine) {
	cf := clientFacts{Arch: m.Arch, ArchKnown: m.ArchKnown, Kind: m.Kind, Platform: m.Platform, BuildArch: m.BuildArch, UUID: m.UUID, Chain: m.Chain}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, seen := c.m[mac]; !seen {
		if len(c.order) < maxFacts {
			c.order = append(c.order, mac)
		} else {
			delete(c.m, c.order[c.next])
			c.order[c.next] = mac
			c.next = (c.next + 1) % maxFacts
		}
	}
	c.m[mac] = cf
}

// follow records the facts of every DHCP reply event on ch until ch closes: the dashboard
// and the per-client scripts learn a client from the decision its reply was built from,
// and never sit in the DHCP path.
func (c *factsCache) follow(ch <-chan events.Event) {
	for e := range ch {
		if e.Kind != events.DHCP || e.Machine.Kind == "" {
			continue
		}
		hw, err := net.ParseMAC(e.MAC)
		if err != nil || len(hw) != 6 {
			continue
		}
		c.record([6]byte(hw), e.Machine)
	}
}

func (c *factsCache) get(mac [6]byte) (clientFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[mac]
	return f, ok
}

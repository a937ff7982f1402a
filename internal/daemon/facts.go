package daemon

import (
	"encoding/hex"
	"sync"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// maxFacts bounds the per-client facts kept for the HTTP side; a lab has far fewer
// machines, and the oldest entry goes first when a flood of MACs arrives.
const maxFacts = 1024

// clientFacts is what a client's DHCP requests told about it, for per-client scripts and the
// dashboard: its architecture as the boot policy reads it, and its option 97 UUID.
type clientFacts struct {
	Arch      uint16
	ArchKnown bool
	Kind      string
	Platform  string
	BuildArch string
	UUID      string
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

// note records the facts of one request. It asks the (pure) boot policy for the labels, so
// the dashboard shows the same kind the DHCP reply was built from.
func (c *factsCache) note(req *rawdhcp.Message, port uint16, mode dhcpd.Mode, bc *boot.Config) {
	typ, ok := req.MessageType()
	if !ok || req.Op != rawdhcp.BootRequest || req.HLen != 6 {
		return
	}
	var kind boot.MsgKind
	switch typ {
	case rawdhcp.Discover:
		kind = boot.Discover
	case rawdhcp.Request:
		kind = boot.Request
	case rawdhcp.Inform:
		kind = boot.Inform
	default:
		return
	}
	var archBuf [4]uint16
	f := boot.Facts{Msg: kind, Port: port, VendorClass: string(req.VendorClass()), UserClass: req.UserClass(),
		Has175: req.Options.Has(rawdhcp.OptIPXEEncap), MAC: req.MAC(), GIAddr: req.GIAddr}
	if mode == dhcpd.ModeProxy {
		f.Mode = boot.Proxy
	}
	f.Arch, _ = req.ClientArchs(archBuf[:0])
	f.Opt97, _ = req.ClientMachineID()
	d := boot.Decide(f, *bc)
	cf := clientFacts{Arch: d.Arch, ArchKnown: d.ArchKnown, Kind: d.Kind, Platform: d.Platform, BuildArch: d.BuildArch}
	if len(f.Opt97) == 17 && f.Opt97[0] == 0 {
		cf.UUID = uuidString(f.Opt97[1:])
	}
	mac := req.MAC()
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

func (c *factsCache) get(mac [6]byte) (clientFacts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[mac]
	return f, ok
}

// uuidString writes option 97's 16 bytes in the 8-4-4-4-12 form, in wire order.
func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

package dhcpd

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// RogueServer is another DHCP server seen answering on our link.
type RogueServer struct {
	Addr  netip.Addr       `json:"addr"`
	MAC   net.HardwareAddr `json:"-"`
	First time.Time        `json:"first"` // first sighting of the current run (see Persistent)
	Last  time.Time        `json:"last"`  // latest sighting
	Count uint64           `json:"count"` // sightings in all
	run   uint64           // sightings in the current run
	warn  time.Time        // last warning logged
}

// rogueForget ends a run of sightings: a server silent this long is new when it answers
// again.
const rogueForget = time.Minute

// Persistent reports whether the server has answered at least twice, the first and the
// latest answer at least hold apart, with no silence of rogueForget in between: a real
// server keeps answering its clients, while one spoofed packet is a single sighting.
func (r RogueServer) Persistent(hold time.Duration) bool {
	return r.run >= 2 && r.Last.Sub(r.First) >= hold
}

// rogueTable is what the server knows about other DHCP servers on its link, bounded to
// rogueTableMax addresses (a flood of spoofed server identifiers empties it).
type rogueTable struct {
	mu sync.Mutex
	m  map[netip.Addr]*RogueServer
}

const rogueTableMax = 64

// saw records a sighting of addr at now and reports whether to warn (the first sighting,
// then once per every).
func (t *rogueTable) saw(addr netip.Addr, mac net.HardwareAddr, now time.Time, every time.Duration) (warn bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[netip.Addr]*RogueServer)
	}
	r := t.m[addr]
	warn = r == nil || now.Sub(r.warn) >= every
	if r == nil {
		if len(t.m) >= rogueTableMax {
			clear(t.m)
		}
		r = &RogueServer{Addr: addr}
		t.m[addr] = r
	}
	if warn {
		r.warn = now
	}
	if r.run == 0 || now.Sub(r.Last) >= rogueForget {
		r.First, r.run = now, 0
	}
	r.Last = now
	r.MAC = mac
	r.Count++
	r.run++
	return warn
}

// list returns the servers seen, sorted by address.
func (t *rogueTable) list() []RogueServer {
	t.mu.Lock()
	out := make([]RogueServer, 0, len(t.m))
	for _, r := range t.m {
		out = append(out, *r)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

// Rogues returns the other DHCP servers seen while serving full DHCP.
func (s *Server) Rogues() []RogueServer { return s.rogues.list() }

// SawServer records another DHCP server seen answering on the link (addr its server
// identifier, mac its Ethernet source): the callback for rawdhcp.ServerWatch.Run. In full
// mode it is counted (Rogues) and warned about once per WarnInterval; in proxy mode another
// server is expected and ignored.
func (s *Server) SawServer(addr netip.Addr, mac net.HardwareAddr, typ rawdhcp.MessageType) {
	if s.Mode() != ModeFull || s.Paused() {
		return
	}
	if s.rogues.saw(addr, mac, s.now(), s.cfg.WarnInterval) {
		s.log.Warn("dhcp: another DHCP server is answering on this link", "server", addr, "mac", mac.String(), "type", typ.String(), "interface", s.cfg.Interface)
	}
}

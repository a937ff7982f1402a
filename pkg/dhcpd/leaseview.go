package dhcpd

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// LeaseInfo is one row of the lease table, for the dashboard and the status API.
type LeaseInfo struct {
	IP       netip.Addr       `json:"ip"`
	MAC      net.HardwareAddr `json:"-"`
	MACText  string           `json:"mac,omitempty"`
	Hostname string           `json:"hostname,omitempty"`
	State    string           `json:"state"` // offered, bound, expired, declined, conflict
	Expires  time.Time        `json:"expires"`
	Reserved bool             `json:"reserved,omitempty"`
}

// leaseView is the lease table as observers (dashboard, scripts, file servers) see it: a
// sorted snapshot rebuilt only when the table changed or a lease in it ran out, and built
// outside the server's mutex, which is held only to copy the rows.
type leaseView struct {
	mu      sync.Mutex // one rebuild at a time
	version uint64     // of the pool the rows were taken from
	until   time.Time  // the rows' states hold until then (next expiry)
	built   bool
	rows    []LeaseInfo
}

// row is a binding as copied under the server's mutex: no allocation there.
type row struct {
	b        binding
	reserved bool
}

// Leases returns the address table sorted by address. The slice is shared with other
// callers until the table changes: read it, do not modify it.
func (s *Server) Leases() []LeaseInfo {
	now := s.now()
	v := &s.view
	v.mu.Lock()
	defer v.mu.Unlock()
	a := &s.addr
	a.mu.Lock()
	if v.built && v.version == a.pool.version && now.Before(v.until) {
		a.mu.Unlock()
		return v.rows
	}
	version := a.pool.version
	rows := make([]row, 0, len(a.pool.byIP))
	for ip, b := range a.pool.byIP {
		_, res := a.pool.reserved[ip]
		rows = append(rows, row{b: *b, reserved: res})
	}
	a.mu.Unlock()

	out := make([]LeaseInfo, len(rows))
	until := now.Add(100 * 365 * 24 * time.Hour)
	for i := range rows {
		out[i] = leaseInfo(&rows[i].b, rows[i].reserved, now)
		if e := rows[i].b.expires; e.After(now) && e.Before(until) {
			until = e
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	v.rows, v.version, v.until, v.built = out, version, until, true
	return out
}

// Lease returns the row of the address table for ip: a map lookup, for observers that ask
// about one client (a script, a file transfer).
func (s *Server) Lease(ip netip.Addr) (LeaseInfo, bool) {
	if !ip.Is4() {
		return LeaseInfo{}, false
	}
	now := s.now()
	u := u32(ip)
	a := &s.addr
	a.mu.Lock()
	b := a.pool.byIP[u]
	if b == nil {
		a.mu.Unlock()
		return LeaseInfo{}, false
	}
	r := *b
	_, res := a.pool.reserved[u]
	a.mu.Unlock()
	return leaseInfo(&r, res, now), true
}

func leaseInfo(b *binding, reserved bool, now time.Time) LeaseInfo {
	li := LeaseInfo{IP: a4(b.ip), Hostname: b.hostname, State: b.state.String(), Expires: b.expires, Reserved: reserved}
	if b.id != "" {
		li.MAC = append(net.HardwareAddr(nil), b.mac[:]...)
		li.MACText = li.MAC.String()
	}
	if b.state == stBound && !now.Before(b.expires) {
		li.State = "expired"
	}
	return li
}

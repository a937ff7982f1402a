package lease

import (
	"math"
	"net"
	"net/netip"
	"time"
)

// entry is a lease as the table keeps it: 64 bytes plus its strings, about half the size
// of a Lease with its slices and time.Time, because a small board holds tens of thousands.
type entry struct {
	exp      int64 // Unix seconds; noExpiry for a lease that never expires
	ip       uint32
	state    State
	mac      string
	hostname string
	clientID string
}

const noExpiry = math.MinInt64

func unixOrNever(t time.Time) int64 {
	if t.IsZero() {
		return noExpiry
	}
	return t.Unix()
}

func (e *entry) expiry() time.Time {
	if e.exp == noExpiry {
		return time.Time{}
	}
	return time.Unix(e.exp, 0).UTC()
}

// lease returns a copy the caller owns.
func (e *entry) lease() Lease {
	l := Lease{IP: addr4(e.ip), Expiry: e.expiry(), Hostname: e.hostname, State: e.state}
	if e.mac != "" {
		l.MAC = net.HardwareAddr(e.mac)
	}
	if e.clientID != "" {
		l.ClientID = []byte(e.clientID)
	}
	return l
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// table is the in-memory state. Both Commit and journal replay change it only through
// apply, so the table in memory is always what a reload of the journal would build.
type table struct {
	byIP  map[uint32]entry
	byMAC map[string]uint32 // non-declined leases only
}

func newTable() table {
	return table{byIP: make(map[uint32]entry), byMAC: make(map[string]uint32)}
}

// apply performs one record; it reports false for a touch that no longer matches a lease
// (the lease moved or went away before the touch was flushed), which is harmless.
func (t *table) apply(r *record) bool {
	l := &r.lease
	ip := u32(l.IP)
	switch r.op {
	case opLease:
		t.remove(ip)
		e := entry{exp: unixOrNever(l.Expiry), ip: ip, state: l.State, mac: string(l.MAC),
			hostname: l.Hostname, clientID: string(l.ClientID)}
		if l.State != Declined {
			if old, ok := t.byMAC[e.mac]; ok {
				t.remove(old)
			}
			t.byMAC[e.mac] = ip
		}
		t.byIP[ip] = e
	case opTouch:
		e, ok := t.byIP[ip]
		if !ok || e.mac != string(l.MAC) {
			return false
		}
		e.exp = unixOrNever(l.Expiry)
		t.byIP[ip] = e
	case opDel:
		t.remove(ip)
	}
	return true
}

func (t *table) remove(ip uint32) {
	e, ok := t.byIP[ip]
	if !ok {
		return
	}
	delete(t.byIP, ip)
	if cur, ok := t.byMAC[e.mac]; ok && cur == ip {
		delete(t.byMAC, e.mac)
	}
}

// undo puts one address back as it was before a record changed it. A lease or del record
// changes at most two addresses: its own and, when a MAC moves, the one it held before.
type undo struct {
	ip   uint32
	prev entry
	had  bool
}

// save appends to u what it takes to undo r (a lease or del record) and returns it; call it
// just before apply(r). Touches need no undo: the store keeps them when it takes a failed
// batch back (see Store.takeBack).
func (t *table) save(u []undo, r *record) []undo {
	ip := u32(r.lease.IP)
	e, ok := t.byIP[ip]
	u = append(u, undo{ip: ip, prev: e, had: ok})
	if r.op == opLease && r.lease.State != Declined {
		if old, ok := t.byMAC[string(r.lease.MAC)]; ok && old != ip {
			u = append(u, undo{ip: old, prev: t.byIP[old], had: true})
		}
	}
	return u
}

// revert undoes u, newest first, leaving the table as it was before the first saved record.
func (t *table) revert(u []undo) {
	for i := len(u) - 1; i >= 0; i-- {
		x := &u[i]
		t.remove(x.ip)
		if x.had {
			t.byIP[x.ip] = x.prev
			if x.prev.state != Declined {
				t.byMAC[x.prev.mac] = x.ip
			}
		}
	}
}

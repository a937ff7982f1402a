package lease

import (
	"bytes"
	"net/netip"
)

// table is the in-memory state. Both Commit and journal replay change it only through
// apply, so the table in memory is always what a reload of the journal would build.
type table struct {
	byIP  map[netip.Addr]*Lease
	byMAC map[string]netip.Addr // non-declined leases only
}

func newTable() table {
	return table{byIP: make(map[netip.Addr]*Lease), byMAC: make(map[string]netip.Addr)}
}

// apply performs one record; it reports false for a touch that no longer matches a lease
// (the lease moved or went away before the touch was flushed), which is harmless.
func (t *table) apply(r *record) bool {
	switch r.op {
	case opLease:
		l := r.lease
		t.remove(l.IP)
		if l.State != Declined {
			if old, ok := t.byMAC[string(l.MAC)]; ok {
				t.remove(old)
			}
			t.byMAC[string(l.MAC)] = l.IP
		}
		t.byIP[l.IP] = &l
	case opTouch:
		e := t.byIP[r.lease.IP]
		if e == nil || !bytes.Equal(e.MAC, r.lease.MAC) {
			return false
		}
		e.Expiry = r.lease.Expiry
	case opDel:
		t.remove(r.lease.IP)
	}
	return true
}

func (t *table) remove(ip netip.Addr) {
	e := t.byIP[ip]
	if e == nil {
		return
	}
	delete(t.byIP, ip)
	if cur, ok := t.byMAC[string(e.MAC)]; ok && cur == ip {
		delete(t.byMAC, string(e.MAC))
	}
}

package lease

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"time"
)

// model is a deliberately naive statement of the store's rules: a list of leases, at most
// one per address, at most one non-declined per MAC.
type model struct{ ls []Lease }

func (m *model) find(f func(Lease) bool) int { return slices.IndexFunc(m.ls, f) }

func (m *model) lease(l Lease) {
	l.Expiry = roundTime(l.Expiry)
	m.del(l.IP)
	if l.State != Declined {
		if i := m.find(func(x Lease) bool { return x.State != Declined && bytes.Equal(x.MAC, l.MAC) }); i >= 0 {
			m.ls = slices.Delete(m.ls, i, i+1)
		}
	}
	m.ls = append(m.ls, l)
}

func (m *model) del(ip netip.Addr) {
	if i := m.find(func(x Lease) bool { return x.IP == ip }); i >= 0 {
		m.ls = slices.Delete(m.ls, i, i+1)
	}
}

func (m *model) touch(mac net.HardwareAddr, e time.Time) error {
	i := m.find(func(x Lease) bool { return x.State != Declined && bytes.Equal(x.MAC, mac) })
	if i < 0 {
		return ErrNotFound
	}
	m.ls[i].Expiry = roundTime(e)
	return nil
}

func (m *model) release(mac net.HardwareAddr, now time.Time) error {
	i := m.find(func(x Lease) bool { return x.State != Declined && bytes.Equal(x.MAC, mac) })
	if i < 0 {
		return ErrNotFound
	}
	m.ls[i].State, m.ls[i].Expiry = Released, roundTime(now)
	return nil
}

func (m *model) all() []Lease {
	out := slices.Clone(m.ls)
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

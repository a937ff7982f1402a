package boot

import (
	"net/netip"
	"sync/atomic"
)

// addrText returns a.String(), reusing the string of the previous call when a is the same
// address: the server's address goes into option 66 of nearly every reply, and formatting
// it anew would be the reply path's only allocation.
func addrText(a netip.Addr) string {
	if t := lastAddr.Load(); t != nil && t.a == a {
		return t.s
	}
	t := &addrString{a: a, s: a.String()}
	lastAddr.Store(t)
	return t.s
}

type addrString struct {
	a netip.Addr
	s string
}

var lastAddr atomic.Pointer[addrString]

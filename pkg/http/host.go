package httpd

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// statusHostAllowed reports whether the dashboard, the API and the metrics may answer r:
// its Host must name this server — an address it was reached on (the connection's local
// address, Config.ServerIP, any loopback address), a localhost name, or one of
// Config.StatusHosts. DNS rebinding points a name the attacker controls at the box, so
// a page from that name can read the lease table; its requests carry that name in Host and
// are refused here. Files and scripts answer any Host: firmware may use any name.
func (s *Server) statusHostAllowed(r *http.Request) bool {
	host := r.Host
	if host == "" {
		return true // HTTP/1.0 without Host: not a browser, so not a rebinding page
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() || ip == s.cfg.ServerIP {
			return true
		}
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if la, err := netip.ParseAddrPort(addrString(local)); err == nil && la.Addr().Unmap() == ip {
			return true
		}
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: browsers resolve these to loopback themselves
	}
	for _, h := range s.cfg.StatusHosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return true
		}
	}
	return false
}

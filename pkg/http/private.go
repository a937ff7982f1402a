package httpd

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// Private files. Per-client directories (01-<mac>/ and the client's IPv4 address, the rule
// of boot.IsClientDir/OwnsClientDir, shared with TFTP's pkg/bootfs) and per-host scripts
// (hosts/<mac-hexhyp>.ipxe and anything else in hosts/ named <mac>.…) belong to one
// machine: they hold preseeds, kickstarts and scripts with secrets. A request for another
// machine's is a 404, as if it were not there.
//
// Who asks: the IP is the connection's source address (TCP's handshake vouches for it on
// the LAN). The MAC is the one the daemon's lease table binds to that IP (Clients). A MAC
// the client names itself (?mac=) is not proof — anyone can type anyone's MAC — so for a
// client the daemon does not know (proxy mode, another DHCP server) it counts only with
// Config.TrustQueryMAC; a client the daemon knows is always its leased MAC.

// requester is who sent a request, looked up once and only when a rule needs it.
type requester struct {
	ip     netip.Addr
	info   ClientInfo
	known  bool    // the daemon knows ip
	mac    [6]byte // the requester's MAC, when hasMAC
	hasMAC bool    // from the lease table, or a trusted ?mac=
}

// requester identifies r's client.
func (s *Server) requester(r *http.Request) requester {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	q := requester{ip: ap.Addr().Unmap()}
	if s.cfg.Clients != nil && q.ip.IsValid() {
		q.info, q.known = s.cfg.Clients.Client(q.ip)
	}
	if q.known {
		q.mac, q.hasMAC = parseMAC6(q.info.MAC)
	} else if s.cfg.TrustQueryMAC {
		q.mac, q.hasMAC = parseMAC6(r.URL.Query().Get("mac"))
	}
	return q
}

// parseMAC6 accepts the forms net.ParseMAC does (colons, dashes, dots) for a 6-byte MAC.
func parseMAC6(s string) (mac [6]byte, ok bool) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return mac, false
	}
	return [6]byte(hw), true
}

// privateOwner reports whether name (clean, relative to Root) is a private file, and
// returns the test for whether q may read it.
func privateOwner(name string) (check func(q *requester) bool, private bool) {
	first, rest, _ := strings.Cut(name, "/")
	if boot.IsClientDir(first) {
		return func(q *requester) bool { return boot.OwnsClientDir(first, q.ip, q.mac, q.hasMAC) }, true
	}
	if first == "hosts" && rest != "" && !strings.Contains(rest, "/") {
		stem, _, _ := strings.Cut(rest, ".")
		if m, ok := boot.ParseMACDashed(stem); ok {
			return func(q *requester) bool { return q.hasMAC && q.mac == m }, true
		}
	}
	return nil, false
}

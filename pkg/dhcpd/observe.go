package dhcpd

import (
	"encoding/hex"
	"net"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Sent records that resp (of kind r) left, for the counters and the event bus. Callers of
// Handle use it; ServeDHCP also tells the bus what the request said about the client.
func (s *Server) Sent(r Reply, resp *rawdhcp.Message) { s.sent(r, nil, resp, nil) }

// sent is Sent with the request and the boot decision the reply was built from (nil when
// unknown), which give the event its Machine.
func (s *Server) sent(r Reply, req, resp *rawdhcp.Message, d *boot.Decision) {
	switch r {
	case ReplyOffer:
		s.st.offers.Add(1)
	case ReplyAck:
		s.st.acks.Add(1)
	case ReplyNak:
		s.st.naks.Add(1)
	case ReplyInform:
		s.st.informs.Add(1)
	case ReplyProxyOffer:
		s.st.proxyOffers.Add(1)
	case ReplyProxyAck:
		s.st.proxyAcks.Add(1)
	default:
		return
	}
	if s.cfg.Bus == nil {
		return
	}
	ip := resp.YIAddr
	if r == ReplyInform || r == ReplyProxyAck {
		ip = resp.CIAddr
	}
	e := s.event(events.DHCP, r.String(), resp.MAC(), ip)
	if d != nil && r != ReplyNak {
		e.Machine = events.Machine{Kind: d.Kind, Arch: d.Arch, ArchKnown: d.ArchKnown, Platform: d.Platform, BuildArch: d.BuildArch, Chain: d.Chain}
		if id, ok := req.ClientMachineID(); ok && len(id) == 17 && id[0] == 0 {
			e.Machine.UUID = uuidString(id[1:])
		}
	}
	s.cfg.Bus.Publish(e)
}

// uuidString writes option 97's 16 bytes in the 8-4-4-4-12 form, in wire order.
func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// publish sends a DHCP event (a lease change) to the bus.
func (s *Server) publish(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) {
	if s.cfg.Bus != nil {
		s.cfg.Bus.Publish(s.event(kind, msg, mac, ip))
	}
}

// event is a DHCP event about the client mac at ip.
func (s *Server) event(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) events.Event {
	e := events.Event{Kind: kind, Proto: "dhcp", Msg: msg, MAC: net.HardwareAddr(mac[:]).String()}
	if ip.IsValid() && !ip.IsUnspecified() {
		e.Client = netip.AddrPortFrom(ip, 68)
	}
	return e
}

// sweepInterval is how often expired leases are announced on the bus.
const sweepInterval = 15 * time.Second

// sweepLoop publishes LeaseChanged "expired" for leases that ran out, so the dashboard
// does not have to poll. Expired leases stay in the table until reclaimed.
func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep(s.now())
		}
	}
}

// sweep publishes an event for every lease that expired since the previous sweep.
func (s *Server) sweep(now time.Time) {
	type gone struct {
		mac [6]byte
		ip  netip.Addr
	}
	var out []gone
	s.mu.Lock()
	since := s.lastSweep
	s.lastSweep = now
	for ip, b := range s.pool.byIP {
		if b.state == stBound && !b.expires.After(now) && b.expires.After(since) && b.id != "" {
			out = append(out, gone{b.mac, a4(ip)})
		}
	}
	s.mu.Unlock()
	for _, g := range out {
		s.publish(events.LeaseChanged, "expired", g.mac, g.ip)
	}
}

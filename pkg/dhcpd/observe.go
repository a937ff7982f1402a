package dhcpd

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// Sent records that resp (of kind r) left, for the counters and the event bus. Callers of
// Handle use it; ServeDHCP also tells the bus what the request said about the client.
func (s *Server) Sent(r Reply, resp *rawdhcp.Message) { s.obs.sent(r, nil, resp, nil) }

// observer tells the world what the server did: the reply counters, the event bus (the
// dashboard's only source), and the log lines. It sits beside the request path, never in
// it: nothing it does changes a reply.
type observer struct {
	cfg  *Config
	log  *slog.Logger
	st   *stats
	addr *addresses // for the leases that ran out
}

// sent is Sent with the request and the boot decision the reply was built from (nil when
// unknown), which give the event its Machine.
func (o *observer) sent(r Reply, req, resp *rawdhcp.Message, d *boot.Decision) {
	switch r {
	case ReplyOffer:
		o.st.offers.Add(1)
	case ReplyAck:
		o.st.acks.Add(1)
	case ReplyNak:
		o.st.naks.Add(1)
	case ReplyInform:
		o.st.informs.Add(1)
	case ReplyProxyOffer:
		o.st.proxyOffers.Add(1)
	case ReplyProxyAck:
		o.st.proxyAcks.Add(1)
	default:
		return
	}
	if o.cfg.Bus == nil {
		return
	}
	ip := resp.YIAddr
	if r == ReplyInform || r == ReplyProxyAck {
		ip = resp.CIAddr
	}
	e := o.event(events.DHCP, r.String(), resp.MAC(), ip)
	if d != nil && r != ReplyNak {
		e.Machine = events.Machine{Kind: d.Kind, Arch: d.Arch, ArchKnown: d.ArchKnown, Platform: d.Platform, BuildArch: d.BuildArch, Chain: d.Chain}
		if id, ok := req.ClientMachineID(); ok && len(id) == 17 && id[0] == 0 {
			e.Machine.UUID = uuidString(id[1:])
		}
	}
	o.cfg.Bus.Publish(e)
}

// uuidString writes option 97's 16 bytes in the 8-4-4-4-12 form, in wire order.
func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// publish sends a DHCP event (a lease change) to the bus.
func (o *observer) publish(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) {
	if o.cfg.Bus != nil {
		o.cfg.Bus.Publish(o.event(kind, msg, mac, ip))
	}
}

// event is a DHCP event about the client mac at ip.
func (o *observer) event(kind events.Kind, msg string, mac [6]byte, ip netip.Addr) events.Event {
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
func (o *observer) sweepLoop(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.sweep(now())
		}
	}
}

// sweep publishes an event for every lease that expired since the previous sweep.
func (o *observer) sweep(now time.Time) {
	for _, g := range o.addr.expiredSince(now) {
		o.publish(events.LeaseChanged, "expired", g.mac, g.ip)
	}
}

package dhcpd

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// LevelVerbose is the level of the per-request detail lines: between debug and info, where
// the daemon's --verbose dhcp puts the DHCP logger (internal/config.LevelVerbose).
const LevelVerbose = slog.Level(-2)

// replyMsgs are the info lines' messages, one per reply kind, so that logging a reply
// builds no string.
var replyMsgs = [...]string{
	ReplyOffer:      "dhcp: OFFER",
	ReplyAck:        "dhcp: ACK",
	ReplyNak:        "dhcp: NAK",
	ReplyInform:     "dhcp: ACK (INFORM)",
	ReplyProxyOffer: "dhcp: PROXY-OFFER",
	ReplyProxyAck:   "dhcp: PROXY-ACK",
}

// logReply writes the one info line per reply that a production boot server keeps (who
// booted what, as dnsmasq's DHCPACK lines): the client's MAC, the address, the kind of
// client the boot policy saw (d, the decision the reply was built from) and the boot file
// it got.
func (o *observer) logReply(r Reply, req *rawdhcp.Message, port uint16, resp *rawdhcp.Message, d *boot.Decision) {
	ctx := context.Background()
	if int(r) >= len(replyMsgs) || replyMsgs[r] == "" || !o.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	mac := req.MAC()
	ip := resp.YIAddr
	switch r {
	case ReplyInform, ReplyProxyAck:
		ip = resp.CIAddr
	case ReplyNak:
		ip, _ = req.RequestedIP()
		if !ip.IsValid() {
			ip = req.CIAddr
		}
	}
	attrs := [6]slog.Attr{
		slog.String("mac", macString(mac)),
		slog.Any("ip", ipOrNone(ip)),
	}
	n := 2
	if r == ReplyNak {
		why, _ := resp.Options.Get(rawdhcp.OptMessage)
		attrs[n] = slog.String("reason", string(why))
		n++
	} else {
		attrs[n] = slog.String("kind", d.Kind)
		n++
		file := string(resp.BootFileName())
		if file == "" {
			file = string(resp.FileName())
		}
		if file != "" {
			attrs[n] = slog.String("file", file)
			n++
		}
		if resp.SIAddr.IsValid() && !resp.SIAddr.IsUnspecified() {
			attrs[n] = slog.Any("next_server", resp.SIAddr)
			n++
		}
	}
	if port == boot.PortPXE {
		attrs[n] = slog.Int("port", int(port))
		n++
	}
	o.log.LogAttrs(ctx, slog.LevelInfo, replyMsgs[r], attrs[:n]...)
}

func ipOrNone(a netip.Addr) any {
	if !a.IsValid() || a.IsUnspecified() {
		return "-"
	}
	return a
}

// logRequest writes the per-request detail line at LevelVerbose (--verbose dhcp): what
// arrived, before any decision. It returns at once, allocating nothing, when that level is
// off.
func (o *observer) logRequest(typ rawdhcp.MessageType, req *rawdhcp.Message, port uint16) {
	ctx := context.Background()
	if !o.log.Enabled(ctx, LevelVerbose) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("type", typ.String()),
		slog.String("mac", macString(req.MAC())),
		slog.String("xid", xidString(req.XID)),
		slog.Int("port", int(port)))
	if req.CIAddr.IsValid() && !req.CIAddr.IsUnspecified() {
		attrs = append(attrs, slog.Any("ciaddr", req.CIAddr))
	}
	if ip, ok := req.RequestedIP(); ok {
		attrs = append(attrs, slog.Any("requested", ip))
	}
	if sid, ok := req.ServerID(); ok {
		attrs = append(attrs, slog.Any("server_id", sid))
	}
	if gi := req.GIAddr; gi.IsValid() && !gi.IsUnspecified() {
		attrs = append(attrs, slog.Any("giaddr", gi))
	}
	if vc := req.VendorClass(); len(vc) > 0 {
		attrs = append(attrs, slog.String("vendor_class", string(vc)))
	}
	if archs, ok := req.ClientArchs(nil); ok && len(archs) > 0 {
		attrs = append(attrs, slog.Any("arch", archs))
	}
	o.log.LogAttrs(ctx, LevelVerbose, "dhcp: request", attrs...)
}

func xidString(x uint32) string {
	const hexd = "0123456789abcdef"
	var b [8]byte
	for i := range b {
		b[7-i] = hexd[x>>(4*i)&0xf]
	}
	return string(b[:])
}

//go:build linux

package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// rogueWatch watches port-68 traffic on the served interface for OFFERs and ACKs from a
// server other than us.
type rogueWatch struct {
	conn  *packet.Conn
	ifMAC net.HardwareAddr
}

func newRogueWatch(ifname string) (*rogueWatch, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("dhcpd: rogue watch: %w", err)
	}
	c, err := listenClientPort(ifi)
	if err != nil {
		return nil, fmt.Errorf("dhcpd: rogue watch: %w", err)
	}
	return &rogueWatch{conn: c, ifMAC: ifi.HardwareAddr}, nil
}

// run reads until ctx ends or the socket closes and calls seen for every foreign
// OFFER/ACK. Our own replies are recognised by source MAC or by server identifier.
func (w *rogueWatch) run(ctx context.Context, ours netip.Addr, seen func(server netip.Addr, mac net.HardwareAddr, typ rawdhcp.MessageType)) {
	stop := context.AfterFunc(ctx, func() { _ = w.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1600)
	var m rawdhcp.Message
	for ctx.Err() == nil {
		n, from, err := w.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		a, _ := from.(*packet.Addr)
		if a == nil || string(a.HardwareAddr) == string(w.ifMAC) {
			continue
		}
		src, _, sport, _, payload, ok := parseUDP4(buf[:n])
		if !ok || sport != 67 || m.Decode(payload) != nil || m.Op != rawdhcp.BootReply {
			continue
		}
		typ, ok := m.MessageType()
		if !ok || typ != rawdhcp.Offer && typ != rawdhcp.Ack {
			continue
		}
		sid, ok := m.ServerID()
		if !ok {
			sid = src
		}
		if sid == ours || src == ours {
			continue
		}
		seen(sid, append(net.HardwareAddr(nil), a.HardwareAddr...), typ)
	}
}

func (w *rogueWatch) close() error { return w.conn.Close() }

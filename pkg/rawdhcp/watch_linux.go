//go:build linux

package rawdhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"
)

// ServerWatch watches the DHCP traffic to clients (port 68) on an interface for OFFERs and
// ACKs from a server other than us: another DHCP server answering on the link.
type ServerWatch struct {
	conn  *packet.Conn
	ifMAC net.HardwareAddr
}

// OpenServerWatch opens the watch on the interface ifname. Call it in the interface's
// network namespace; Run reads, Close releases it.
func OpenServerWatch(ifname string) (*ServerWatch, error) {
	ifi, err := LookupLink(ifname)
	if err != nil {
		return nil, fmt.Errorf("rawdhcp: server watch: %w", err)
	}
	c, err := listenClientPort(ifi)
	if err != nil {
		return nil, fmt.Errorf("rawdhcp: server watch: %w", err)
	}
	return &ServerWatch{conn: c, ifMAC: ifi.HardwareAddr}, nil
}

// Run reads until ctx ends or the watch is closed and calls seen for every foreign
// OFFER/ACK. Our own replies are recognised by source MAC or by the server identifier
// ours.
func (w *ServerWatch) Run(ctx context.Context, ours netip.Addr, seen func(server netip.Addr, mac net.HardwareAddr, typ MessageType)) {
	stop := context.AfterFunc(ctx, func() { _ = w.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1600)
	var m Message
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
		// Lenient about the UDP checksum: frames from a veth or an offloading NIC carry a
		// partial one, and the watch only reads them for a warning.
		h, payload, err := parseIPv4UDP(buf[:n], false)
		if err != nil || h.Src.Port() != ServerPort || m.Decode(payload) != nil || m.Op != BootReply {
			continue
		}
		src := h.Src.Addr()
		typ, ok := m.MessageType()
		if !ok || typ != Offer && typ != Ack {
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

// Close closes the watch; Run returns.
func (w *ServerWatch) Close() error { return w.conn.Close() }

//go:build linux

package rawdhcp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"
)

// Detect looks for another DHCP server on ifname: it broadcasts a DISCOVER from the
// interface's own MAC (three times across timeout, for lossy links) and listens until
// timeout or ctx ends for an OFFER answering it. The daemon calls it for `--dhcp-auto` at
// start and when carrier returns, before its own server answers; offers sent from ifname's
// own MAC are ignored. It needs CAP_NET_RAW and opens its sockets in the caller's network
// namespace.
//
// Use a timeout of at least 3-4 s: servers ARP-check an address before offering it
// (busybox udhcpd waits 2 s by default), and an OFFER arriving later is missed.
func Detect(ctx context.Context, ifname string, timeout time.Duration) (DetectResult, error) {
	ifi, err := ethernetLink(ifname)
	if err != nil {
		return DetectResult{}, fmt.Errorf("rawdhcp: detect: %w", err)
	}
	c, err := listenClientPort(ifi)
	if err != nil {
		return DetectResult{}, fmt.Errorf("rawdhcp: detect: %w", err)
	}
	defer c.Close()

	var xb [4]byte
	_, _ = rand.Read(xb[:])
	xid := binary.BigEndian.Uint32(xb[:])
	var d Message
	d.Op = BootRequest
	d.SetHardwareAddr(ifi.HardwareAddr)
	d.XID = xid
	d.Flags = FlagBroadcast // the answer must reach us although we have no lease
	d.SetMessageType(Discover)
	d.SetParamRequestList(OptSubnetMask, OptRouter, OptDNS)
	payload, err := d.Append(nil)
	if err != nil {
		return DetectResult{}, fmt.Errorf("rawdhcp: detect: %w", err)
	}
	for len(payload) < MinReplyLen {
		payload = append(payload, 0)
	}
	frame, err := AppendIPv4UDP(nil, IPv4UDP{
		Src: netip.AddrPortFrom(netip.IPv4Unspecified(), 68),
		Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), 67),
	}, payload)
	if err != nil {
		return DetectResult{}, fmt.Errorf("rawdhcp: detect: %w", err)
	}
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}

	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1600)
	var m Message
	const sends = 3
	for i := range sends {
		if _, err := c.WriteTo(frame, bcast); err != nil {
			return DetectResult{}, fmt.Errorf("rawdhcp: detect: send DISCOVER: %w", err)
		}
		// Listen until the next send or the deadline.
		until := time.Now().Add(time.Until(deadline) / time.Duration(sends-i))
		_ = c.SetReadDeadline(until)
		for {
			if ctx.Err() != nil {
				return DetectResult{}, ctx.Err()
			}
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return DetectResult{}, fmt.Errorf("rawdhcp: detect: %w", err)
			}
			a, _ := from.(*packet.Addr)
			if a == nil || string(a.HardwareAddr) == string(ifi.HardwareAddr) {
				continue
			}
			h, p, err := parseIPv4UDP(buf[:n], false)
			if err != nil || h.Src.Port() != ServerPort || m.Decode(p) != nil || m.Op != BootReply || m.XID != xid {
				continue
			}
			src := h.Src.Addr()
			if t, ok := m.MessageType(); !ok || t != Offer {
				continue
			}
			r := DetectResult{Found: true, Relay: src, ServerMAC: append(net.HardwareAddr(nil), a.HardwareAddr...), Offered: m.YIAddr}
			var ok bool
			r.Server, ok = m.ServerID()
			if !ok {
				r.Server = src
			}
			return r, nil
		}
		if !time.Now().Before(deadline) {
			break
		}
	}
	return DetectResult{}, nil
}

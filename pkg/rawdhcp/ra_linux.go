//go:build linux

package rawdhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// raReadTick bounds each read, so that Serve notices its context and a vanished interface.
const raReadTick = time.Second

// ErrInterfaceGone is returned by RAConn.Serve when the interface it was opened on no
// longer exists under its name and index (deleted, or deleted and created again): the
// caller opens a new RAConn.
var ErrInterfaceGone = errors.New("rawdhcp: interface gone")

// allRoutersMAC is the Ethernet group of ff02::2 (RFC 2464 §7).
var allRoutersMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}

// RAConn answers router solicitations on one interface with the router advertisement of
// PutRA, and only those from clients on its allow list, each as a link-layer unicast. It
// reads through an AF_PACKET socket whose BPF filter (attached before bind) passes only
// incoming ICMPv6 router solicitations and router advertisements, and joins the
// all-routers and all-nodes Ethernet groups so that a real NIC delivers them. When another
// router advertises something on the link it stays silent for RouterQuiet: iPXE takes the
// first advertisement, and a real router's must win.
//
// Serve is meant for one goroutine; Allow may be called from any.
type RAConn struct {
	ifi   *net.Interface
	pc    *packet.Conn
	mac   MAC        // under wmu: the interface's MAC at the last advertisement
	src   netip.Addr // our link-local address
	cfg   RAConfig
	stats raCounters
	log   *slog.Logger

	rbuf []byte // Serve's only

	routerSeen atomic.Int64 // unix nanoseconds of the last advertisement from a real router

	pmu     sync.Mutex
	pending macTable[netip.Addr] // unanswered solicitations: client MAC → its IPv6 source

	wmu  sync.Mutex
	wbuf [RAFrameLen]byte
	wdst packet.Addr
}

// ListenRA opens an RAConn on the interface named ifname. cfg.Allow is required.
func ListenRA(ifname string, cfg *RAConfig) (*RAConn, error) {
	if cfg == nil || cfg.Allow == nil {
		return nil, errors.New("rawdhcp: ListenRA needs an allow list")
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "rawdhcp-ra", Err: err}
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, &net.OpError{Op: "listen", Net: "rawdhcp-ra", Err: fmt.Errorf("interface %s has no Ethernet address", ifname)}
	}
	c := &RAConn{ifi: ifi, mac: MAC(ifi.HardwareAddr), cfg: cfg.withDefaults(), rbuf: make([]byte, max(ifi.MTU, 1280)+ethHeaderLen)}
	c.log = c.cfg.Logger
	c.pending = newMACTable[netip.Addr](c.cfg.Pending)
	c.wdst.HardwareAddr = make(net.HardwareAddr, 6)
	c.src = linkLocalOf(ifi)
	prog, err := bpf.Assemble(ndFilter)
	if err != nil {
		return nil, err
	}
	// packet.Listen attaches the filter before bind, so no other frame is ever queued.
	c.pc, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IPV6, &packet.Config{Filter: prog})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "rawdhcp-ra", Err: err}
	}
	for _, g := range []net.HardwareAddr{allRoutersMAC, allNodesMAC} {
		if err := c.pc.JoinGroup(g); err != nil {
			c.pc.Close()
			return nil, &net.OpError{Op: "listen", Net: "rawdhcp-ra", Err: err}
		}
	}
	return c, nil
}

// ndFilter passes IPv6 frames carrying an ICMPv6 router solicitation (133) or
// advertisement (134) directly after the IPv6 header (neither has an extension header) and
// drops everything else. A socket bound to ETH_P_IPV6 gets no outgoing frames, so neither
// this host's own solicitations nor a router daemon on this host (radvd) reach it; the
// pkt_type test keeps the former out should that ever change.
var ndFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 12, Size: 2}, // ethertype
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv6, SkipTrue: 7},
	bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1}, // IPv6 next header
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 5},
	bpf.LoadAbsolute{Off: ethHeaderLen + ipv6HeaderLen, Size: 1}, // ICMPv6 type
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmp6RA, SkipTrue: 4},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmp6RS, SkipTrue: 2},
	bpf.LoadExtension{Num: bpf.ExtType}, // skb->pkt_type
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 0xffff},
}

// allNodesMAC is the Ethernet group of ff02::1, where routers send their periodic
// advertisements.
var allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}

// linkLocalOf is the interface's own link-local address, or the modified EUI-64 one of its
// MAC when it has none (IPv6 off on the interface).
func linkLocalOf(ifi *net.Interface) netip.Addr {
	if addrs, err := ifi.Addrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && !ip.Is4In6() && ip.IsLinkLocalUnicast() {
					return ip
				}
			}
		}
	}
	return LinkLocalFromMAC(MAC(ifi.HardwareAddr))
}

// Interface returns the interface the RAConn serves.
func (c *RAConn) Interface() *net.Interface { return c.ifi }

// Source returns the link-local address advertisements come from.
func (c *RAConn) Source() netip.Addr { return c.src }

// Stats returns the RAConn's counters.
func (c *RAConn) Stats() RAStats { return c.stats.snapshot() }

// Close closes the socket; a running Serve returns.
func (c *RAConn) Close() error { return c.pc.Close() }

// Allow puts mac on the allow list and, when a solicitation of its came in within
// PendingTTL, answers it now instead of at the client's next retransmission.
func (c *RAConn) Allow(mac MAC) {
	now := time.Now()
	c.cfg.Allow.Add(mac, now)
	c.pmu.Lock()
	src, ok := c.pending.get(mac, now)
	if ok {
		c.pending.del(mac)
	}
	c.pmu.Unlock()
	if ok {
		c.answer(mac, src, now)
	}
}

// Serve reads and answers solicitations until ctx ends (it returns nil then), the socket
// fails, or the interface is gone (ErrInterfaceGone).
func (c *RAConn) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = c.pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		if err := c.pc.SetReadDeadline(time.Now().Add(raReadTick)); err != nil {
			return err
		}
		n, _, err := c.pc.ReadFrom(c.rbuf)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			c.handle(c.rbuf[:n], time.Now())
		case errors.Is(err, os.ErrDeadlineExceeded):
			if !c.sameInterface() {
				return ErrInterfaceGone
			}
		case errors.Is(err, unix.ENETDOWN):
			// The link went down; the socket delivers again once it is up.
			if !c.sameInterface() {
				return ErrInterfaceGone
			}
		default:
			return err
		}
	}
	return nil
}

// boundMAC returns the interface's current MAC as the socket sees it, and whether the
// socket is still bound to its interface: when the interface is deleted the kernel unbinds
// the socket (its index becomes -1), and a re-created interface of the same name has a new
// index. A bridge's MAC changes as ports come and go, so the advertisement's source is read
// here rather than kept from ListenRA. Asking the socket, not the interface name, keeps the
// answer right in whatever namespace the caller runs.
func (c *RAConn) boundMAC() (MAC, bool) {
	var mac MAC
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return mac, false
	}
	idx := -1
	if err := rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Halen == 6 {
				idx = ll.Ifindex
				copy(mac[:], ll.Addr[:6])
			}
		}
	}); err != nil {
		return mac, false
	}
	return mac, idx == c.ifi.Index
}

// sameInterface reports whether the socket is still bound to its interface.
func (c *RAConn) sameInterface() bool {
	_, ok := c.boundMAC()
	return ok
}

// handle answers one received frame when it is a valid solicitation from an allowed
// client, and remembers solicitations of others for a late Allow.
func (c *RAConn) handle(frame []byte, now time.Time) {
	if len(frame) > ethHeaderLen+ipv6HeaderLen && frame[ethHeaderLen+ipv6HeaderLen] == icmp6RA {
		c.sawAdvert(frame, now)
		return
	}
	var rs RouterSolicitation
	if err := ParseRS(frame, &rs); err != nil {
		c.stats.malformed.Add(1)
		return
	}
	c.stats.solicitations.Add(1)
	if !c.cfg.Allow.Contains(rs.SrcMAC, now) {
		c.stats.notAllowed.Add(1)
		c.pmu.Lock()
		c.pending.put(rs.SrcMAC, rs.Src, now.Add(c.cfg.PendingTTL))
		c.pmu.Unlock()
		return
	}
	c.answer(rs.SrcMAC, rs.Src, now)
}

// sawAdvert notes an advertisement from another router. One that configures nothing
// (lifetime 0, no prefix, no DHCPv6: what another pxe-edge sends) is no reason to yield.
func (c *RAConn) sawAdvert(frame []byte, now time.Time) {
	var ra RouterAdvertInfo
	if err := ParseRA(frame, &ra); err != nil {
		c.stats.malformed.Add(1)
		return
	}
	if ra.Lifetime == 0 && ra.Prefixes == 0 && ra.Flags&0xc0 == 0 {
		return
	}
	c.stats.routers.Add(1)
	if last := c.routerSeen.Swap(now.UnixNano()); now.Sub(time.Unix(0, last)) >= c.cfg.RouterQuiet {
		c.log.Warn("another IPv6 router advertises on the link; leaving iPXE's router solicitations to it",
			"router", ra.Src, "mac", ra.SrcMAC, "lifetime", ra.Lifetime, "prefixes", ra.Prefixes, "flags", ra.Flags)
	}
}

// answer sends the advertisement to mac (IPv6 destination src, or all-nodes when src is
// unspecified) unless one went there within Gap.
func (c *RAConn) answer(mac MAC, src netip.Addr, now time.Time) {
	if seen := c.routerSeen.Load(); seen != 0 && now.Sub(time.Unix(0, seen)) < c.cfg.RouterQuiet {
		c.stats.yielded.Add(1)
		return
	}
	if !c.cfg.Allow.take(mac, now, c.cfg.Gap) {
		c.stats.limited.Add(1)
		return
	}
	dst := src
	if !dst.IsValid() || dst.IsUnspecified() {
		dst = AllNodes
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if m, ok := c.boundMAC(); ok {
		c.mac = m
	}
	frame, err := PutRA(c.wbuf[:], &RouterAdvert{SrcMAC: c.mac, DstMAC: mac, Src: c.src, Dst: dst})
	if err == nil {
		copy(c.wdst.HardwareAddr, mac[:])
		_, err = c.pc.WriteTo(frame, &c.wdst)
	}
	if err != nil {
		c.stats.sendErrors.Add(1)
		c.log.Warn("router advertisement not sent", "mac", mac, "err", err)
		return
	}
	c.stats.advertised.Add(1)
	c.log.Debug("router advertisement sent", "mac", mac, "dst", dst)
}

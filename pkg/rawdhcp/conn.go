package rawdhcp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/bpf"
)

// Well-known ports.
const (
	ServerPort     uint16 = 67   // BOOTP/DHCP server
	ClientPort     uint16 = 68   // BOOTP/DHCP client
	PXEServicePort uint16 = 4011 // PXE boot server discovery (ProxyDHCP port-4011 service)
)

// Config configures Listen. The zero value listens on port 67 and takes the interface's
// first IPv4 address as the server address.
type Config struct {
	// ServerAddr is the IPv4 source address of every reply. If it is not valid, Listen uses
	// the interface's first IPv4 address and fails if there is none. It can be changed
	// later with SetServerAddr.
	ServerAddr netip.Addr
	// Ports are the UDP destination ports to receive: 67 (default), 4011 for the PXE boot
	// service, 68 to see other servers' replies (rogue server watch). For 67 and 4011
	// Listen also holds an ordinary UDP socket on the port so that the kernel does not
	// answer unicast requests with ICMP port unreachable.
	Ports []uint16
	// Logger receives debug lines about dropped packets; nil discards them.
	Logger *slog.Logger
}

// MAC is an Ethernet address.
type MAC [6]byte

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as 00:11:22:33:44:55.
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// PacketInfo describes where a received message came from and went to.
type PacketInfo struct {
	SrcMAC, DstMAC MAC
	Src, Dst       netip.AddrPort // IPv4 addresses and UDP ports
	IfIndex        int
	// L2Broadcast is true if the frame was sent to the link-layer broadcast (or a
	// multicast) address rather than to this host.
	L2Broadcast bool
}

// Stats counts what a Conn and its serve loop saw. All counters only grow.
type Stats struct {
	Received      uint64 // frames read from the socket, before any check
	Handled       uint64 // messages given to the handler
	Malformed     uint64 // frames that failed IPv4/UDP or DHCP decoding
	Foreign       uint64 // well-formed but not ours (other hosts, wrong op for the port, our own echo)
	Replies       uint64 // replies sent
	ReplyErrors   uint64 // replies that could not be built or sent
	HandlerPanics uint64 // handler calls that panicked (recovered)
	QueueFull     uint64 // messages dropped because their worker's queue was full
}

type counters struct {
	received, handled, malformed, foreign, replies, replyErrors, panics, queueFull atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:      c.received.Load(),
		Handled:       c.handled.Load(),
		Malformed:     c.malformed.Load(),
		Foreign:       c.foreign.Load(),
		Replies:       c.replies.Load(),
		ReplyErrors:   c.replyErrors.Load(),
		HandlerPanics: c.panics.Load(),
		QueueFull:     c.queueFull.Load(),
	}
}

// route is where a reply goes.
type route struct {
	relay   bool           // send over the UDP socket to dst (the relay agent)
	dstMAC  MAC            // link-layer destination when not relayed
	dst     netip.AddrPort // IPv4 destination
	srcPort uint16
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// routeReply applies RFC 2131 §4.1 to a reply resp for request req received as info.
func routeReply(resp, req *Message, info *PacketInfo) route {
	srcPort := info.Dst.Port()
	if srcPort == 0 {
		srcPort = ServerPort
	}
	bcast := route{dstMAC: BroadcastMAC, dst: netip.AddrPortFrom(limitedBroadcast, ClientPort), srcPort: srcPort}
	// A service on another port than 67 (PXE 4011) answers the client's own address and
	// port: the client already has an address and sent to us directly (a broadcast or
	// multicast source is no client's address).
	if a := info.Src.Addr(); srcPort != ServerPort && srcPort != ClientPort && unicast(a) {
		return route{dstMAC: info.SrcMAC, dst: info.Src, srcPort: srcPort}
	}
	// A giaddr or ciaddr that no host can have (broadcast, multicast, loopback) comes from a
	// broken or hostile sender: it is ignored rather than answered at that address.
	if unicast(req.GIAddr) {
		return route{relay: true, dst: netip.AddrPortFrom(req.GIAddr, ServerPort), srcPort: ServerPort}
	}
	if t, _ := resp.MessageType(); t == Nak {
		return bcast
	}
	if unicast(req.CIAddr) {
		mac := info.SrcMAC
		if info.Src.Addr() != req.CIAddr {
			// Not sent from ciaddr (e.g. relayed by a host without giaddr): chaddr is the
			// best link address we have.
			if a, ok := ethernetCHAddr(req); ok {
				mac = a
			}
		}
		return route{dstMAC: mac, dst: netip.AddrPortFrom(req.CIAddr, ClientPort), srcPort: srcPort}
	}
	if req.Broadcast() {
		return bcast
	}
	if a, ok := ethernetCHAddr(req); ok && unicast(resp.YIAddr) {
		return route{dstMAC: a, dst: netip.AddrPortFrom(resp.YIAddr, ClientPort), srcPort: srcPort}
	}
	// No address given (ProxyDHCP offer), none a host can have, or no usable chaddr: only
	// broadcast reaches it.
	return bcast
}

func nonzero(a netip.Addr) bool { return a.IsValid() && !a.IsUnspecified() }

// unicast reports whether a can be one host's address on the link.
func unicast(a netip.Addr) bool {
	return nonzero(a) && a != limitedBroadcast && !a.IsMulticast() && !a.IsLoopback()
}

func ethernetCHAddr(m *Message) (MAC, bool) {
	if m.HType != 1 || m.HLen != 6 {
		return MAC{}, false
	}
	a := MAC(m.CHAddr[:6])
	return a, a != MAC{} && a != BroadcastMAC
}

// frameReply encodes resp into buf (which must have room for MTU bytes) as an IPv4/UDP
// datagram from src to r.dst, padded to MinReplyLen and limited by the client's option 57
// and mtu. For a relayed reply only the DHCP payload is returned.
func frameReply(buf []byte, resp, req *Message, r route, src netip.Addr, id uint16, mtu int) ([]byte, error) {
	payload, err := resp.Append(buf[IPv4UDPHeaderLen:IPv4UDPHeaderLen])
	if err != nil {
		return nil, err
	}
	for len(payload) < MinReplyLen {
		payload = append(payload, 0)
	}
	if &payload[0] != &buf[IPv4UDPHeaderLen] {
		return nil, fmt.Errorf("rawdhcp: reply of %d bytes exceeds the %d-byte frame buffer", len(payload), len(buf)-IPv4UDPHeaderLen)
	}
	limit := min(req.ReplyLimit(), mtu-IPv4UDPHeaderLen)
	if r.relay {
		// The relay forwards to the client and applies the client's limit itself, but the
		// message must still fit a frame it can forward.
		limit = mtu - IPv4UDPHeaderLen
	}
	if len(payload) > limit {
		return nil, fmt.Errorf("rawdhcp: reply of %d bytes exceeds the client's limit of %d (option 57 / MTU)", len(payload), limit)
	}
	if r.relay {
		return payload, nil
	}
	pkt := buf[:IPv4UDPHeaderLen+len(payload)]
	h := IPv4UDP{Src: netip.AddrPortFrom(src, r.srcPort), Dst: r.dst, ID: id}
	if err := putIPv4UDP(pkt, h); err != nil {
		return nil, err
	}
	return pkt, nil
}

// filter returns the classic BPF program run on the AF_PACKET socket (which sees the IPv4
// header at offset 0): accept unfragmented UDP to one of ports, drop the rest in the kernel.
// Frames this host sends are dropped too; Linux shows outgoing frames only to ETH_P_ALL
// sockets, so this is defence in depth should the protocol ever change.
func filter(ports []uint16) ([]bpf.RawInstruction, error) {
	if len(ports) == 0 || len(ports) > 8 {
		return nil, fmt.Errorf("rawdhcp: between 1 and 8 ports, got %d", len(ports))
	}
	n := len(ports)
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType}, // skb->pkt_type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4 /* PACKET_OUTGOING */, SkipTrue: uint8(n + 6)},
		bpf.LoadAbsolute{Off: 9, Size: 1}, // IPv4 protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: uint8(n + 4)},
		bpf.LoadAbsolute{Off: 6, Size: 2}, // flags + fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: uint8(n + 2)},
		bpf.LoadMemShift{Off: 0},          // X = IPv4 header length
		bpf.LoadIndirect{Off: 2, Size: 2}, // UDP destination port
	}
	for i, p := range ports {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(n - i)})
	}
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 0xffff})
	return bpf.Assemble(prog)
}

//go:build linux

package rawdhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

const opNet = "rawdhcp"

// Conn is a DHCP server socket on one interface: an AF_PACKET socket that receives IPv4/UDP
// to the configured ports and sends link-layer addressed replies, plus an ordinary UDP
// socket for replies to relay agents. Every socket is opened by Listen, so a Conn created
// inside a network namespace stays there.
//
// ReadMessage is meant for one reader goroutine; Reply is safe for concurrent use.
type Conn struct {
	ifi    *net.Interface
	pc     *packet.Conn
	rc     syscall.RawConn
	udp    *net.UDPConn   // relay replies, holds port 67
	hold   []*net.UDPConn // hold other server ports against ICMP port unreachable
	server atomic.Pointer[netip.Addr]
	stats  counters
	ipID   atomic.Uint32

	// Read state: one reader at a time. The closure is built once so that a read does not
	// allocate.
	rmu    sync.Mutex
	rbuf   []byte
	rsa    unix.RawSockaddrLinklayer
	rcbuf  [64]byte // control messages: PACKET_AUXDATA
	riov   unix.Iovec
	rmsg   unix.Msghdr
	rn     int
	rcsum  bool // the kernel has not filled in the UDP checksum (offload)
	noAux  bool // no PACKET_AUXDATA: offload state unknown
	rerr   error
	readFn func(fd uintptr) bool

	// Write state, under wmu; like reads, sends go through a prebuilt closure so that a
	// reply does not allocate.
	wmu     sync.Mutex
	wbuf    []byte
	wsa     unix.RawSockaddrLinklayer
	wpkt    []byte
	werr    error
	writeFn func(fd uintptr) bool
}

// Listen opens a DHCP server Conn on the interface named ifname. cfg may be nil.
func Listen(ifname string, cfg *Config) (*Conn, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	ifi, err := LookupLink(ifname)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: opNet, Err: err}
	}
	c, err := listen(ifi, cfg)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: opNet, Addr: &packet.Addr{HardwareAddr: ifi.HardwareAddr}, Err: err}
	}
	return c, nil
}

func listen(ifi *net.Interface, cfg *Config) (*Conn, error) {
	ports := cfg.Ports
	if len(ports) == 0 {
		ports = []uint16{ServerPort}
	}
	server := cfg.ServerAddr
	if !server.IsValid() {
		var err error
		if server, err = firstIPv4(ifi); err != nil {
			return nil, err
		}
	}
	if !server.Is4() {
		return nil, fmt.Errorf("server address %v is not IPv4", server)
	}
	prog, err := filter(ports)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mtu := max(ifi.MTU, 576)
	c := &Conn{
		ifi:  ifi,
		rbuf: make([]byte, mtu+64),
		wbuf: make([]byte, mtu),
	}
	c.server.Store(&server)
	c.readFn = c.recvfrom
	c.writeFn = c.sendto
	c.wsa = unix.RawSockaddrLinklayer{
		Family:   unix.AF_PACKET,
		Protocol: binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, unix.ETH_P_IP)),
		Ifindex:  int32(ifi.Index),
		Halen:    6,
	}

	// The filter is attached before bind (packet.Listen does so), so no frame that slipped in
	// between socket() and the filter reaches us.
	c.pc, err = packet.Listen(ifi, packet.Datagram, unix.ETH_P_IP, &packet.Config{Filter: prog})
	if err != nil {
		return nil, err
	}
	if c.rc, err = c.pc.SyscallConn(); err != nil {
		c.Close()
		return nil, err
	}
	// PACKET_AUXDATA tells, per frame, whether the sender's stack left the UDP checksum to
	// offload (TP_STATUS_CSUMNOTREADY): such frames from this host or a veth peer carry a
	// partial checksum that must not be verified. Without it (emulators such as qemu-user
	// lack the option) UDP checksums cannot be judged and are not checked; the IPv4 header
	// checksum still is.
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	}); err != nil {
		c.Close()
		return nil, err
	}
	if serr != nil {
		c.noAux = true
		log.Warn("rawdhcp: PACKET_AUXDATA unavailable; UDP checksums of received frames are not verified", "interface", ifi.Name, "err", serr)
	}
	relayPort := ServerPort
	c.udp, err = listenUDP(ifi.Name, ServerPort)
	if errors.Is(err, unix.EADDRINUSE) {
		// Another server on this host holds 67: relay replies then leave from an
		// ephemeral port, which relay agents accept.
		log.Warn("rawdhcp: UDP port 67 in use; relay replies use an ephemeral source port", "interface", ifi.Name)
		relayPort = 0
		c.udp, err = listenUDP(ifi.Name, 0)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	for _, p := range ports {
		if p == ServerPort || p == ClientPort || (p == relayPort && p != 0) {
			continue
		}
		h, err := listenUDP(ifi.Name, p)
		if err != nil {
			log.Warn("rawdhcp: cannot hold UDP port; unicast requests to it may draw ICMP port unreachable", "port", p, "err", err)
			continue
		}
		c.hold = append(c.hold, h)
	}
	return c, nil
}

func firstIPv4(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				return ip.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address and no server address was configured", ifi.Name)
}

// dropAll is a socket filter that accepts nothing: the UDP sockets only send (or hold a
// port), and must not queue the DHCP traffic the AF_PACKET socket already reads.
var dropAll = []unix.SockFilter{{Code: 0x06, K: 0}} // ret #0

func listenUDP(ifname string, port uint16) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname); serr != nil {
				serr = os.NewSyscallError("setsockopt SO_BINDTODEVICE", serr)
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				serr = os.NewSyscallError("setsockopt SO_REUSEADDR", serr)
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				serr = os.NewSyscallError("setsockopt SO_BROADCAST", serr)
				return
			}
			prog := unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}
			if serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); serr != nil {
				serr = os.NewSyscallError("setsockopt SO_ATTACH_FILTER", serr)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// Close closes every socket of the Conn.
func (c *Conn) Close() error {
	var errs []error
	if c.pc != nil {
		errs = append(errs, c.pc.Close())
	}
	if c.udp != nil {
		errs = append(errs, c.udp.Close())
	}
	for _, h := range c.hold {
		errs = append(errs, h.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// Interface returns the interface the Conn serves.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// ServerAddr returns the source address used for replies.
func (c *Conn) ServerAddr() netip.Addr { return *c.server.Load() }

// SetServerAddr changes the source address used for replies (an IPv4 address).
func (c *Conn) SetServerAddr(a netip.Addr) error {
	if !a.Is4() {
		return c.opError("set", fmt.Errorf("server address %v is not IPv4", a))
	}
	c.server.Store(&a)
	return nil
}

// SetReadDeadline sets the deadline for ReadMessage; a past time wakes a blocked reader.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats { return c.stats.snapshot() }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: opNet, Addr: &packet.Addr{HardwareAddr: c.ifi.HardwareAddr}, Err: err}
}

func (c *Conn) recvfrom(fd uintptr) bool {
	c.riov.Base = &c.rbuf[0]
	c.riov.SetLen(len(c.rbuf))
	c.rmsg = unix.Msghdr{
		Name:    (*byte)(unsafe.Pointer(&c.rsa)),
		Namelen: uint32(unsafe.Sizeof(c.rsa)),
		Iov:     &c.riov,
		Control: &c.rcbuf[0],
	}
	c.rmsg.SetIovlen(1)
	c.rmsg.SetControllen(len(c.rcbuf))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.rmsg)), unix.MSG_DONTWAIT|unix.MSG_TRUNC)
	switch errno {
	case 0:
		c.rn, c.rerr = int(n), nil
		c.rcsum = c.noAux || c.checksumNotReady()
		return true
	case unix.EAGAIN, unix.EINTR:
		return false
	default:
		c.rn, c.rerr = 0, os.NewSyscallError("recvmsg", errno)
		return true
	}
}

func (c *Conn) sendto(fd uintptr) bool {
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, fd,
		uintptr(unsafe.Pointer(&c.wpkt[0])), uintptr(len(c.wpkt)), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&c.wsa)), unsafe.Sizeof(c.wsa))
	switch errno {
	case 0:
		return true
	case unix.EAGAIN, unix.EINTR:
		return false
	default:
		c.werr = os.NewSyscallError("sendto", errno)
		return true
	}
}

// checksumNotReady walks the control messages of the last recvmsg for PACKET_AUXDATA.
func (c *Conn) checksumNotReady() bool {
	cb := c.rcbuf[:min(int(c.rmsg.Controllen), len(c.rcbuf))]
	hdrLen := unix.CmsgLen(0)
	for len(cb) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&cb[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(cb) {
			return false
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= hdrLen+int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&cb[hdrLen]))
			return aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0
		}
		cb = cb[min(unix.CmsgSpace(l-hdrLen), len(cb)):]
	}
	return false
}

// ReadMessage reads the next frame, checks its IPv4/UDP headers and decodes the DHCP message
// into m, filling info. Errors are *net.OpError; a frame that does not decode gives an error
// wrapping ErrMalformed and one that is not for this server (sent by this host, or to
// another host) one wrapping ErrForeign; the caller may simply read again after either.
func (c *Conn) ReadMessage(m *Message, info *PacketInfo) error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.rc.Read(c.readFn); err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return err // already names the op (deadline, closed socket)
		}
		return c.opError("read", err)
	}
	if c.rerr != nil {
		return c.opError("read", c.rerr)
	}
	c.stats.received.Add(1)
	switch c.rsa.Pkttype {
	case unix.PACKET_OUTGOING:
		// Not expected on an ETH_P_IP socket (and the filter drops it); kept for safety.
		c.stats.foreign.Add(1)
		return c.opError("read", errOwnPacket)
	case unix.PACKET_OTHERHOST:
		c.stats.foreign.Add(1)
		return c.opError("read", errOtherHost)
	}
	if c.rn > len(c.rbuf) {
		c.stats.malformed.Add(1)
		return c.opError("read", fmt.Errorf("rawdhcp: frame of %d bytes truncated to %d: %w", c.rn, len(c.rbuf), ErrMalformed))
	}
	h, payload, err := parseIPv4UDP(c.rbuf[:c.rn], !c.rcsum)
	if err != nil {
		c.stats.malformed.Add(1)
		return c.opError("read", err)
	}
	if err := m.Decode(payload); err != nil {
		c.stats.malformed.Add(1)
		return c.opError("read", err)
	}
	*info = PacketInfo{
		Src:         h.Src,
		Dst:         h.Dst,
		IfIndex:     int(c.rsa.Ifindex),
		L2Broadcast: c.rsa.Pkttype == unix.PACKET_BROADCAST || c.rsa.Pkttype == unix.PACKET_MULTICAST,
	}
	if c.rsa.Halen == 6 {
		info.SrcMAC = MAC(c.rsa.Addr[:6])
	}
	if info.L2Broadcast {
		info.DstMAC = BroadcastMAC
	} else {
		info.DstMAC = MAC(c.ifi.HardwareAddr)
	}
	return nil
}

// Reply sends resp, the answer to req received as info, addressed per RFC 2131 §4.1:
// giaddr set → UDP to the relay's port 67; a NAK → broadcast; ciaddr set → unicast to
// ciaddr:68; broadcast flag → 255.255.255.255:68 at link broadcast; otherwise a link-layer
// unicast frame to chaddr with IP destination yiaddr. A request that arrived on another
// port than 67 (the PXE 4011 service) is answered at its source address and port, from
// that port. The message is padded to 300 bytes and must fit the client's option 57.
// A NAK through a relay gets the broadcast flag (RFC 2131 §4.3.2).
func (c *Conn) Reply(resp, req *Message, info *PacketInfo) error {
	if t, _ := resp.MessageType(); t == Nak && unicast(req.GIAddr) {
		resp.Flags |= FlagBroadcast
	}
	r := routeReply(resp, req, info)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := frameReply(c.wbuf, resp, req, r, c.ServerAddr(), uint16(c.ipID.Add(1)), len(c.wbuf))
	if err != nil {
		c.stats.replyErrors.Add(1)
		return c.opError("write", err)
	}
	if r.relay {
		_, _, err = c.udp.WriteMsgUDPAddrPort(b, unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: c.ServerAddr().As4()}), r.dst)
	} else {
		copy(c.wsa.Addr[:], r.dstMAC[:])
		c.wpkt, c.werr = b, nil
		if err = c.rc.Write(c.writeFn); err == nil {
			err = c.werr
		}
	}
	if err != nil {
		c.stats.replyErrors.Add(1)
		return c.opError("write", err)
	}
	c.stats.replies.Add(1)
	return nil
}

//go:build linux

package tftp

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A transfer socket is connected to its client: sends then go without an address and use
// the route the kernel cached at connect, instead of a route lookup per datagram (a visible
// share of the server's CPU per lock-step block, docs/bench/tftp.md). A connected UDP socket
// no longer receives datagrams from anyone else, so that a packet from a wrong transfer id
// still gets its ERROR 5 (RFC 1350) a second, unconnected socket is bound to the same
// address and port and answers those. The kernel hands each datagram to the socket that
// matches it best: the client's to the connected one, everyone else's to the other.
//
// Port sharing is done with SO_REUSEPORT, which admits only sockets of the same user. The
// first socket gets its port from the kernel without the option (so the kernel never picks
// a port another transfer shares) and sets it after its bind; the second then binds to that
// port with the option. When any step fails the socket stays unconnected, as before, and
// the transfer answers strays itself.

// transferSocket is what connectTransfer needs from sysConn and pollConn.
type transferSocket interface {
	control(f func(fd int) error) error
	connected(st strays)
}

// strays is the socket that answers datagrams from anyone but client; the zero value
// stands for an unconnected transfer socket.
type strays struct {
	client netip.AddrPort
	conn   *net.UDPConn
}

// isClient reports whether to is the client the transfer socket is connected to: sends to
// it go without an address.
func (s strays) isClient(to netip.AddrPort) bool { return s.conn != nil && to == s.client }

func (s strays) close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// sockaddrAddrPort converts an IPv4 or IPv6 socket address (the zone dropped); the zero
// AddrPort for anything else.
func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// unknownTID is the ERROR every stray datagram gets.
var unknownTID = AppendError(nil, ErrUnknownTID, "unknown transfer id")

// connectTransfer connects pc, a transfer socket, to client, with a socket for strays
// beside it; see above. onStray, when set, hears of every stray answered. Sockets that are
// not the package's own (a test's) stay as they are.
func connectTransfer(pc packetConn, client netip.AddrPort, onStray func(from netip.AddrPort)) {
	c, ok := pc.(transferSocket)
	if !ok || !client.IsValid() {
		return
	}
	var (
		bound netip.AddrPort
		v6    bool
		zone  uint32 // of a link-local address
	)
	err := c.control(func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		if bound = sockaddrAddrPort(sa); !bound.IsValid() {
			return syscall.EAFNOSUPPORT
		}
		if s6, ok := sa.(*unix.SockaddrInet6); ok {
			v6, zone = true, s6.ZoneId
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil || !v6 && !client.Addr().Is4() {
		return
	}
	// The stray socket listens like the transfer socket: same family and address, and
	// dual-stack when the transfer socket is (an IPv6 wildcard, listenUDP's "udp").
	network, host := "udp4", ""
	if v6 {
		network = "udp6"
		if bound.Addr().IsUnspecified() {
			network = "udp"
		}
	}
	if !bound.Addr().IsUnspecified() {
		a := bound.Addr()
		if zone != 0 {
			ifi, err := net.InterfaceByIndex(int(zone))
			if err != nil {
				return
			}
			a = a.WithZone(ifi.Name)
		}
		host = a.String()
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	lp, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(int(bound.Port()))))
	if err != nil {
		return
	}
	sc := lp.(*net.UDPConn)
	err = c.control(func(fd int) error {
		if v6 {
			sa := &unix.SockaddrInet6{Addr: client.Addr().As16(), Port: int(client.Port())}
			if client.Addr().IsLinkLocalUnicast() {
				sa.ZoneId = zone
			}
			return unix.Connect(fd, sa)
		}
		return unix.Connect(fd, &unix.SockaddrInet4{Addr: client.Addr().As4(), Port: int(client.Port())})
	})
	if err != nil {
		sc.Close()
		return
	}
	c.connected(strays{client: client, conn: sc})
	go answerStrays(sc, onStray)
}

// answerStrays sends ERROR 5 to whoever sends anything to c, until c is closed.
func answerStrays(c *net.UDPConn, onStray func(netip.AddrPort)) {
	var b [4]byte // what a stray sent does not matter
	for {
		_, from, err := c.ReadFromUDPAddrPort(b[:])
		if err != nil {
			return // closed with its transfer
		}
		from = unmap(from)
		if onStray != nil {
			onStray(from)
		}
		_, _ = c.WriteToUDPAddrPort(unknownTID, from)
	}
}

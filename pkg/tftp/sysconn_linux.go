//go:build linux

package tftp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysConn is a transfer socket driven by blocking system calls instead of Go's network
// poller. A lock-step transfer waits one round trip per block; a blocking recvfrom is woken
// by the kernel directly, where the poller adds a failed read, a park and an epoll_wait to
// every wait. It costs an OS thread per transfer and only pays while those threads need no
// more Ps than there are, so the server picks it only while few transfers run
// (Server.handle; figures in docs/bench/tftp.md).
// Deadlines become SO_RCVTIMEO, re-set only when the wait they stand for changes.
type sysConn struct {
	fd      int
	aborted atomic.Bool

	deadline time.Time
	rcvtimeo time.Duration // SO_RCVTIMEO currently set on fd

	peer   netip.AddrPort // the address dst was built for
	dst    unix.RawSockaddrInet4
	strays strays // set when fd is connected to the client
	rsa    unix.RawSockaddrInet4
	rsaLen uint32

	// UDP segmentation offload for windows (writeSegments); gsoOff once it failed.
	gsoOff bool
	iov    unix.Iovec
	msg    unix.Msghdr
	cmsg   segmentCmsg
}

// segmentCmsg holds one UDP_SEGMENT control message; uint64 words keep the header aligned
// wherever the array sits in its struct.
type segmentCmsg [3]uint64

// set writes the control message for segments of seg bytes and returns its bytes.
func (m *segmentCmsg) set(seg int) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(m)), unsafe.Sizeof(*m))
	h := (*unix.Cmsghdr)(unsafe.Pointer(m))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(seg)
	return b[:unix.CmsgSpace(2)]
}

// listenTransfer opens a transfer socket on local (any address when invalid) with a
// kernel-chosen port: a blocking sysConn when blocking is set and local is IPv4, the
// poller-driven pollConn otherwise.
func listenTransfer(local netip.Addr, blocking bool) (packetConn, error) {
	if !blocking || local.IsValid() && !local.Is4() {
		c, err := listenUDP(local)
		if err != nil {
			return nil, err
		}
		return &pollConn{UDPConn: c.(*net.UDPConn)}, nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	sa := &unix.SockaddrInet4{}
	if local.IsValid() {
		sa.Addr = local.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: "udp4", Addr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Err: os.NewSyscallError("bind", err)}
	}
	return &sysConn{fd: fd}, nil
}

// abort wakes a blocked read and makes every later call fail with net.ErrClosed. It is
// safe to call from another goroutine; the descriptor itself is only closed by Close, from
// the goroutine that owns the transfer, so its number cannot be reused under a running call.
func (c *sysConn) abort() {
	if c.aborted.CompareAndSwap(false, true) {
		// shutdown wakes a receiver blocked on an unconnected UDP socket (it returns 0).
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// Close closes the socket. Only the owning goroutine calls it.
func (c *sysConn) Close() error {
	c.abort()
	c.strays.close()
	return unix.Close(c.fd)
}

func (c *sysConn) control(f func(fd int) error) error { return f(c.fd) }

func (c *sysConn) connected(st strays) { c.strays = st }

func (c *sysConn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	return nil
}

func (c *sysConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if len(b) == 0 {
		return 0, netip.AddrPort{}, syscall.EINVAL
	}
	for {
		if c.aborted.Load() {
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		if !c.deadline.IsZero() {
			left := time.Until(c.deadline)
			if left <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
			// Keep the current SO_RCVTIMEO while it is within 10 % above what is left:
			// in steady state every block asks for the same wait and no setsockopt is made.
			if c.rcvtimeo < left || c.rcvtimeo > left+left/10 {
				if err := c.setRcvTimeout(left); err != nil {
					return 0, netip.AddrPort{}, err
				}
			}
		} else if c.rcvtimeo != 0 {
			if err := c.setRcvTimeout(0); err != nil {
				return 0, netip.AddrPort{}, err
			}
		}
		c.rsaLen = unix.SizeofSockaddrInet4
		n, _, errno := syscall.Syscall6(unix.SYS_RECVFROM, uintptr(c.fd),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&c.rsa)), uintptr(unsafe.Pointer(&c.rsaLen)))
		switch errno {
		case 0:
			if c.aborted.Load() {
				return 0, netip.AddrPort{}, net.ErrClosed
			}
			if c.rsa.Family != unix.AF_INET {
				continue
			}
			port := uint16(c.rsa.Port>>8) | uint16(c.rsa.Port&0xff)<<8 // network order
			return int(n), netip.AddrPortFrom(netip.AddrFrom4(c.rsa.Addr), port), nil
		case unix.EAGAIN, unix.EINTR:
			continue // SO_RCVTIMEO ran out (the deadline check above decides) or a signal
		default:
			return 0, netip.AddrPort{}, os.NewSyscallError("recvfrom", errno)
		}
	}
}

func (c *sysConn) setRcvTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if d > 0 && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // zero would mean "no timeout"
	}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	c.rcvtimeo = d
	return nil
}

func (c *sysConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if c.aborted.Load() {
		return 0, net.ErrClosed
	}
	if !to.Addr().Is4() {
		return 0, &net.AddrError{Err: "not an IPv4 address", Addr: to.Addr().String()}
	}
	if to != c.peer {
		c.peer = to
		c.dst = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Addr().As4()}
		p := to.Port()
		c.dst.Port = p>>8 | p<<8 // network order
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	// To the connected client, no address: the kernel uses the socket's cached route.
	dst, dstLen := unsafe.Pointer(&c.dst), uintptr(unix.SizeofSockaddrInet4)
	if c.strays.isClient(to) {
		dst, dstLen = nil, 0
	}
	for {
		n, _, errno := syscall.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(p), uintptr(len(b)), 0,
			uintptr(dst), dstLen)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("sendto", errno)
	}
}

// writeSegments sends b as consecutive datagrams of seg bytes each (the last may be
// shorter) in one sendmsg with UDP_SEGMENT. It reports false, having sent nothing, when
// the kernel or the route cannot segment.
func (c *sysConn) writeSegments(b []byte, seg int, to netip.AddrPort) (bool, error) {
	if c.gsoOff || len(b) == 0 {
		return false, nil
	}
	if c.aborted.Load() {
		return false, net.ErrClosed
	}
	if !to.Addr().Is4() {
		return false, nil
	}
	if to != c.peer {
		c.peer = to
		c.dst = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Addr().As4()}
		p := to.Port()
		c.dst.Port = p>>8 | p<<8 // network order
	}
	cm := c.cmsg.set(seg)
	c.iov.Base = &b[0]
	c.iov.SetLen(len(b))
	c.msg.Name = (*byte)(unsafe.Pointer(&c.dst))
	c.msg.Namelen = unix.SizeofSockaddrInet4
	if c.strays.isClient(to) {
		c.msg.Name, c.msg.Namelen = nil, 0
	}
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &cm[0]
	c.msg.SetControllen(len(cm))
	for {
		_, _, errno := syscall.Syscall(unix.SYS_SENDMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.msg)), 0)
		switch errno {
		case 0:
			return true, nil
		case unix.EINTR:
			continue
		case unix.EIO, unix.EINVAL, unix.ENOPROTOOPT, unix.EOPNOTSUPP:
			c.gsoOff = true // no checksum offload on the route, or an old kernel
			return false, nil
		}
		return true, os.NewSyscallError("sendmsg", errno)
	}
}

// pollConn is a transfer socket driven by Go's network poller (many transfers at once, or
// IPv6) that can also send a window with UDP segmentation offload.
type pollConn struct {
	*net.UDPConn
	gsoOff bool
	cmsg   segmentCmsg
	strays strays // set when the socket is connected to the client
	raw    *rawIO // set with strays: the client's datagrams, read and written raw
}

// ReadFromUDPAddrPort reads a datagram; an IPv4 sender on a dual-stack socket comes out
// as IPv4, as the transfer's client address does. Once connected, every datagram is the
// client's.
func (c *pollConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.raw != nil && len(b) > 0 {
		n, err := c.raw.read(b)
		return n, c.strays.client, err
	}
	n, from, err := c.UDPConn.ReadFromUDPAddrPort(b)
	return n, unmap(from), err
}

// WriteToUDPAddrPort sends b to to; to the connected client without an address, so the
// kernel uses the socket's cached route.
func (c *pollConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if c.strays.isClient(to) {
		if c.raw != nil {
			return c.raw.write(b)
		}
		return c.UDPConn.Write(b)
	}
	return c.UDPConn.WriteToUDPAddrPort(b, to)
}

// Close closes the socket and the one that answers strays. Safe from any goroutine.
func (c *pollConn) Close() error {
	c.strays.close()
	return c.UDPConn.Close()
}

func (c *pollConn) control(f func(fd int) error) error {
	rc, err := c.UDPConn.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (c *pollConn) connected(st strays) {
	c.strays = st
	if rc, err := c.UDPConn.SyscallConn(); err == nil {
		c.raw = &rawIO{}
		c.raw.init(rc)
	}
}

// writeSegments is sysConn.writeSegments through the poller.
func (c *pollConn) writeSegments(b []byte, seg int, to netip.AddrPort) (bool, error) {
	if c.gsoOff || len(b) == 0 {
		return false, nil
	}
	_, _, err := c.WriteMsgUDPAddrPort(b, c.cmsg.set(seg), to)
	if err != nil && segmentsUnsupported(err) {
		c.gsoOff = true
		return false, nil
	}
	return true, err
}

// segmentsUnsupported tells the errors with which a UDP_SEGMENT send fails without having
// sent anything: no checksum offload on the route, an old kernel, a segment too large.
func segmentsUnsupported(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}

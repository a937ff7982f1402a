package httpd

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue reads how many bytes of a TCP connection the peer has not acknowledged yet.
//
// It asks with ioctl(SIOCOUTQ), which for TCP is write_seq − snd_una: bytes queued but
// unsent plus bytes sent but unacknowledged. handed − that is what the client's TCP stack
// acknowledged. getsockopt(TCP_INFO) was the alternative: tcpi_bytes_acked (Linux 4.1+)
// counts the whole connection, so it needs a baseline per response on keep-alive
// connections, and the kernel copies a ~240-byte struct for one number; SIOCOUTQ is one int,
// relative to what we handed over, and answers on every kernel a board may run.
type sendQueue struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) // q.ioctl, bound once so that probes do not allocate
	n   int
	err error
}

// newSendQueue returns a probe for c's send queue, or nil when c is not a TCP socket we can
// reach (then progress counts handed bytes, as on other systems).
func newSendQueue(c net.Conn) *sendQueue {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	q := &sendQueue{rc: rc}
	q.fn = q.ioctl
	return q
}

func (q *sendQueue) ioctl(fd uintptr) { q.n, q.err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }

// unacked returns the bytes queued on the socket that the peer has not acknowledged. ok is
// false when the socket cannot be asked (closed): callers keep their last figure.
// RawConn.Control runs the ioctl on the connection's own descriptor, under net's reference
// count: no dup, no change to blocking mode, and no race with a concurrent Close.
func (q *sendQueue) unacked() (n int64, ok bool) {
	if err := q.rc.Control(q.fn); err != nil || q.err != nil {
		return 0, false
	}
	return int64(q.n), true
}

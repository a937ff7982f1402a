package httpd

import "golang.org/x/sys/unix"

// The send-queue probe asks with ioctl(SIOCOUTQ), which for TCP is write_seq − snd_una:
// bytes queued but unsent plus bytes sent but unacknowledged; handed − that is what the
// client's TCP stack acknowledged. getsockopt(TCP_INFO) was the alternative:
// tcpi_bytes_acked (Linux 4.1+) counts the whole connection, so it needs a baseline per
// response on keep-alive connections, and the kernel copies a ~240-byte struct for one
// number; SIOCOUTQ is one int, relative to what we handed over, and answers on every kernel
// a board may run.

// sendQueue returns s as the transfer's probe, or nil when there is no socket.
func (s *connSock) sendQueue() unackedProber {
	if s == nil {
		return nil
	}
	return s
}

func (s *connSock) ioctlOutq(fd uintptr) {
	s.outq, s.outqErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
}

// unacked returns the bytes queued on the socket that the peer has not acknowledged. ok is
// false when the socket cannot be asked (closed): callers keep their last figure.
// RawConn.Control runs the ioctl on the connection's own descriptor, under net's reference
// count: no dup, no change to blocking mode, and no race with a concurrent Close.
func (s *connSock) unacked() (n int64, ok bool) {
	if s.outqFn == nil {
		s.outqFn = s.ioctlOutq
	}
	if err := s.rc.Control(s.outqFn); err != nil || s.outqErr != nil {
		return 0, false
	}
	return int64(s.outq), true
}

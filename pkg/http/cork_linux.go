package httpd

import "golang.org/x/sys/unix"

// TCP_CORK around file bodies (respwriter.go): without it every sendfile round pushes its
// tail at once as a short segment, and the client pays per segment; with it the kernel sends
// only full segments until uncork pushes the last one, as nginx's `tcp_nopush on` does.
// Figures and commands: docs/bench/http.md.

// The setsockopt callbacks are plain functions: a body costs two calls and no allocation
// for them.
func corkOn(fd uintptr)  { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 1) }
func corkOff(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 0) }

// cork holds partial segments back until uncork. A nil s (no TCP socket) does nothing.
func (s *connSock) cork() {
	if s == nil {
		return
	}
	_ = s.rc.Control(corkOn)
}

// uncork sends what is held at once and lets later writes (the next response's headers,
// a keep-alive's small replies) go out without delay.
func (s *connSock) uncork() {
	if s == nil {
		return
	}
	_ = s.rc.Control(corkOff)
}

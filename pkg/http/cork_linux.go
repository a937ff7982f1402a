package httpd

import "golang.org/x/sys/unix"

// TCP_CORK around file bodies (respwriter.go).
//
// Without it every sendfile round pushes its tail at once as a short segment, so a body
// reaches the client as many partial segments; with it the kernel sends only full segments
// until uncork pushes the last one. nginx does the same with `tcp_nopush on` beside
// sendfile. Measured on loopback (docs/bench/http.md): the client's CPU per 4 MiB response
// fell by ~45 % and the throughput rose; on a LAN it means fewer packets for the client to
// take in.

// corkHook lets tests watch cork and uncork; nil outside tests.
var corkHook func(on bool)

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
	if corkHook != nil {
		corkHook(true)
	}
}

// uncork sends what is held at once and lets later writes (the next response's headers,
// a keep-alive's small replies) go out without delay.
func (s *connSock) uncork() {
	if s == nil {
		return
	}
	if corkHook != nil {
		corkHook(false) // before the push: a client holding the whole body implies it ran
	}
	_ = s.rc.Control(corkOff)
}

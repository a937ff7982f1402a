package httpd

import (
	"context"
	"net"
	"net/http"
	"syscall"
)

// connSock is one connection's TCP socket, taken once per connection by withConn (the
// http.Server's ConnContext) for the socket work done per response: corking file bodies
// (cork_linux.go) and asking what the client acknowledged (sendq_linux.go). A connection
// serves one request at a time, so its fields are never shared between goroutines.
type connSock struct {
	rc syscall.RawConn

	// The last SIOCOUTQ answer and the method value that fills it, bound on first use so
	// that later probes do not allocate (sendq_linux.go).
	outq    int
	outqErr error
	outqFn  func(fd uintptr)
}

type connKey struct{}

// withConn keeps the connection's socket in the context its requests inherit; a connection
// that is not TCP gets none, and its responses go out uncorked with progress counted as
// bytes handed over.
func withConn(ctx context.Context, c net.Conn) context.Context {
	for i := 0; i < 4; i++ { // the limiting listener's wrapper, and any around it
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return ctx
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, &connSock{rc: rc})
}

// sockOf returns the socket of r's connection, or nil.
func sockOf(r *http.Request) *connSock {
	s, _ := r.Context().Value(connKey{}).(*connSock)
	return s
}

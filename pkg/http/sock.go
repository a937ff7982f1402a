package httpd

import (
	"context"
	"net"
	"net/http"
	"syscall"
	"time"
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

	// pace is what the client acknowledged per second over the last file body sent by
	// sendfile (respwriter.go), 0 before the first measurement. It carries over between the
	// responses of a keep-alive connection, whose client fetches at much the same pace.
	pace float64
}

// pieceSize returns how much of a file body to hand to sendfile next: what the client
// acknowledges in target at its measured pace, or pieceMin with no pace yet or no socket
// (s nil). Acknowledged, not handed over: the first pieces of a body fill the socket's
// buffers at memory speed however slowly the client reads, and a piece sized from them
// could outlast the write deadline.
func (s *connSock) pieceSize(target time.Duration) int64 {
	if s == nil || s.pace == 0 {
		return pieceMin
	}
	return min(max(int64(s.pace*target.Seconds()), pieceMin), pieceMax)
}

// measure updates the pace from the body's bytes handed to the kernel so far (sent) and the
// time since the body started (d), less what the socket still holds unacknowledged.
func (s *connSock) measure(sent int64, d time.Duration) {
	if s == nil || d <= 0 {
		return
	}
	q, ok := s.unacked()
	if !ok {
		return
	}
	if acked := sent - q; acked > 0 {
		s.pace = float64(acked) / d.Seconds()
	}
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

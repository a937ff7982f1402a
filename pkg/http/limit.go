package httpd

import (
	"io"
	"net"
	"sync"
)

// limitListener lets at most n connections be open at once; Accept waits for a free slot,
// so extra clients queue in the kernel's backlog instead of costing memory here.
//
// Unlike golang.org/x/net/netutil.LimitListener, the connections it returns keep the
// underlying *net.TCPConn's ReadFrom: net/http finds io.ReaderFrom on the connection and
// uses it for file bodies, and that is what reaches sendfile(2). A wrapper that only embeds
// net.Conn hides it and every byte goes through a userspace copy.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	lc := &limitConn{Conn: c, release: func() { <-l.sem }}
	if rf, ok := c.(io.ReaderFrom); ok {
		return &limitConnRF{limitConn: lc, rf: rf}, nil
	}
	return lc, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// NetConn returns the accepted connection, for code that needs the socket itself (the send
// queue probe of transfer progress).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// limitConnRF is a limitConn whose underlying connection has ReadFrom (TCP: sendfile).
type limitConnRF struct {
	*limitConn
	rf io.ReaderFrom
}

func (c *limitConnRF) ReadFrom(r io.Reader) (int64, error) { return c.rf.ReadFrom(r) }

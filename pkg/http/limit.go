package httpd

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// limitListener caps the open connections: at most max at once and at most perClient from
// one remote address. Slots are what a hostile or careless neighbour can take from everyone
// else, so:
//
//   - Accept takes a connection from the kernel and then waits for a free slot, holding that
//     one connection; further clients wait in the kernel's backlog instead of costing memory.
//   - While it waits, keep-alive connections idle between requests are closed, oldest first:
//     a parked keep-alive must not keep a new client out for the whole IdleTimeout.
//   - A client already at its own cap has its oldest idle connection closed; when none of
//     its connections is idle, the new one is answered 503 and closed, so that one machine
//     cannot fill the server (waiting would block Accept for everyone behind it). A cap not
//     below max changes nothing: such a client waits for a slot like everyone else.
//
// Idleness comes from the http.Server's ConnState hook (connState). Slowloris headers and
// unsent bodies are not idle: the header timeout and the body deadline (handler.go) end them.
//
// Unlike golang.org/x/net/netutil.LimitListener, the connections it returns keep the
// underlying *net.TCPConn's ReadFrom: net/http finds io.ReaderFrom on the connection and
// uses it for file bodies, and that is what reaches sendfile(2). A wrapper that only embeds
// net.Conn hides it and every byte goes through a userspace copy.
type limitListener struct {
	net.Listener
	max, perClient int
	refused        func(reason string) // counts refusals and evictions; may be nil

	mu    sync.Mutex
	open  int
	byIP  map[netip.Addr]int
	idle  map[*limitConn]time.Time // idle since
	freed chan struct{}            // a slot freed or a connection went idle (capacity 1)
	// refusing bounds the refusals being answered at once (each holds its connection for
	// at most refuseWait).
	refusing chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newLimitListener(l net.Listener, limit, perClient int) *limitListener {
	perClient = min(max(perClient, 1), limit)
	return &limitListener{
		Listener: l, max: limit, perClient: perClient,
		byIP:     make(map[netip.Addr]int),
		idle:     make(map[*limitConn]time.Time),
		freed:    make(chan struct{}, 1),
		refusing: make(chan struct{}, 16),
		done:     make(chan struct{}),
	}
}

// Accept returns the next connection that got a slot.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, err := l.admit(c)
		if err != nil {
			c.Close()
			return nil, err
		}
		if lc == nil {
			continue // refused: that client is at its cap
		}
		if rf, ok := c.(io.ReaderFrom); ok {
			return &limitConnRF{limitConn: lc, rf: rf}, nil
		}
		return lc, nil
	}
}

// admit gives c a slot, waiting for one (and closing idle connections) when all are taken.
// It returns nil when c's client is at its cap and has no idle connection to give up.
func (l *limitListener) admit(c net.Conn) (*limitConn, error) {
	ip := remoteIP(c)
	l.mu.Lock()
	if l.perClient < l.max && l.byIP[ip] >= l.perClient {
		victim := l.oldestIdle(ip)
		if victim == nil {
			l.mu.Unlock()
			l.count("per_client")
			select {
			case l.refusing <- struct{}{}:
				go func() { refuse(c); <-l.refusing }()
			default: // already answering enough refusals: just close
				c.Close()
			}
			return nil, nil
		}
		l.mu.Unlock()
		l.count("idle_closed")
		victim.Close() // releases its slot before we look again
		l.mu.Lock()
	}
	for l.open >= l.max {
		if victim := l.oldestIdle(netip.Addr{}); victim != nil {
			l.mu.Unlock()
			l.count("idle_closed")
			victim.Close()
			l.mu.Lock()
			continue
		}
		l.mu.Unlock()
		select {
		case <-l.freed:
		case <-l.done:
			return nil, net.ErrClosed
		}
		l.mu.Lock()
	}
	l.open++
	l.byIP[ip]++
	l.mu.Unlock()
	return &limitConn{Conn: c, l: l, ip: ip}, nil
}

// oldestIdle returns the connection idle the longest, of ip when ip is valid; l.mu held.
func (l *limitListener) oldestIdle(ip netip.Addr) *limitConn {
	var best *limitConn
	var since time.Time
	for c, t := range l.idle {
		if ip.IsValid() && c.ip != ip {
			continue
		}
		if best == nil || t.Before(since) {
			best, since = c, t
		}
	}
	if best != nil {
		delete(l.idle, best) // claimed: nobody else closes it
	}
	return best
}

func (l *limitListener) count(reason string) {
	if l.refused != nil {
		l.refused(reason)
	}
}

// signal wakes a waiting admit without blocking.
func (l *limitListener) signal() {
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// connState is the http.Server's ConnState hook: it tracks which connections sit idle
// between requests.
func (l *limitListener) connState(c net.Conn, st http.ConnState) {
	lc := asLimitConn(c)
	if lc == nil {
		return
	}
	l.mu.Lock()
	switch st {
	case http.StateIdle:
		if !lc.closed {
			l.idle[lc] = time.Now()
		}
	default:
		delete(l.idle, lc)
	}
	l.mu.Unlock()
	if st == http.StateIdle {
		l.signal()
	}
}

func (l *limitListener) release(c *limitConn) {
	l.mu.Lock()
	c.closed = true
	delete(l.idle, c)
	l.open--
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
	l.mu.Unlock()
	l.signal()
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// refusal is the whole answer to a connection refused at the per-client cap.
var refusal = func() string {
	body := "503 Service Unavailable: too many connections from your address\n"
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// refuseWait bounds how long a refused connection is kept to read its request and answer.
const refuseWait = time.Second

// refuse answers c with a short 503 and closes it. It first reads the request head (up to
// 4 KiB, within refuseWait): a client that gets an answer before it sent its request may
// take it for a stray response on an idle connection (Go's does).
func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(refuseWait))
	var buf [4096]byte
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil || bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			break
		}
	}
	_, _ = io.WriteString(c, refusal)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite() // FIN after the answer, so unread request bytes do not turn it into a reset
	}
	c.Close()
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

type limitConn struct {
	net.Conn
	l      *limitListener
	ip     netip.Addr
	once   sync.Once
	closed bool // under l.mu
}

// NetConn returns the accepted connection, for code that needs the socket itself (the send
// queue probe of transfer progress).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

func (c *limitConn) limited() *limitConn { return c }

// Close frees the slot, then closes the connection: a client that saw the close may connect
// again at once and must find its slot free.
func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

func asLimitConn(c net.Conn) *limitConn {
	if lc, ok := c.(interface{ limited() *limitConn }); ok {
		return lc.limited()
	}
	return nil
}

// limitConnRF is a limitConn whose underlying connection has ReadFrom (TCP: sendfile).
type limitConnRF struct {
	*limitConn
	rf io.ReaderFrom
}

func (c *limitConnRF) ReadFrom(r io.Reader) (int64, error) { return c.rf.ReadFrom(r) }

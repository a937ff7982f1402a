package nbd

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// conn is one client connection: handshake, then transmission.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	remote netip.AddrPort
	key    string
	mac    string
	since  time.Time
	debug  bool

	// Set once before transmission starts; read by Clients under s.mu.
	attached bool
	export   string
	st       store
	size     uint64
	flags    uint16
	detach   func()
	release  func()
	// fileBacked: the store's bytes are in files (sendfile can serve long reads).
	fileBacked bool
	sock       syscall.RawConn
	// pipe carries long READs from the file to the socket; made under wmu at the first
	// one, nil (and noPipe set) when none could be had.
	pipe   *filePipe
	noPipe bool

	read, written atomic.Int64

	// Replies: one writer at a time; the last of a burst flushes.
	wmu     sync.Mutex
	bw      *bufio.Writer
	pending atomic.Int32
	broken  atomic.Bool

	stopped chan struct{} // closed by stopReading
	stopOne sync.Once
}

const (
	readBufSize  = 32 << 10
	writeBufSize = 32 << 10
	// ioTimeout bounds a stalled payload read or reply write in transmission.
	ioTimeout = 60 * time.Second
)

// newConn registers nc, or closes it (nil) when the server is at its connection cap.
func (s *Server) newConn(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= s.cfg.MaxConns {
		nc.Close()
		s.log.Warn("nbd: connection refused, at the connection cap", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConns)
		return nil
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		// Netboot clients reboot without closing their connection; probing finds the
		// dead ones in about half a minute so their writer slot and overlay are freed.
		tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 4})
	}
	c := &conn{s: s, nc: nc, since: time.Now(), stopped: make(chan struct{})}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.remote = ap
	}
	c.key, c.mac = s.clientKey(c.remote.Addr())
	c.debug = s.log.Enabled(context.Background(), slog.LevelDebug)
	s.conns[c] = struct{}{}
	return c
}

// stopReading makes the connection read no further requests; in-flight ones finish.
func (c *conn) stopReading() {
	c.stopOne.Do(func() {
		close(c.stopped)
		c.nc.SetReadDeadline(time.Now())
	})
}

func (c *conn) stat() (ClientStat, bool) {
	if !c.attached {
		return ClientStat{}, false
	}
	return ClientStat{
		Remote: c.remote, MAC: c.mac, Export: c.export,
		BytesRead: c.read.Load(), BytesWritten: c.written.Load(),
		OverlayBytes: c.st.OverlayBytes(), Since: c.since,
	}, true
}

func (c *conn) run() {
	defer func() {
		c.nc.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		if c.detach != nil {
			c.detach()
		}
		if c.release != nil {
			c.release()
		}
		if c.pipe != nil {
			c.pipe.close()
		}
	}()
	c.br = bufio.NewReaderSize(c.nc, readBufSize)
	if !c.handshake() {
		return
	}
	id := c.s.cfg.Events.NextID()
	c.s.cfg.Events.Publish(events.Event{Kind: events.TransferStarted, Proto: "nbd", ID: id, Client: c.remote, MAC: c.mac, File: c.export, Total: int64(c.size)})
	c.s.log.Info("nbd: client attached", "remote", c.remote.String(), "mac", c.mac, "export", c.export, "size", c.size, "flags", c.flags)
	err := c.transmit()
	ev := events.Event{Kind: events.TransferDone, Proto: "nbd", ID: id, Client: c.remote, MAC: c.mac, File: c.export,
		Bytes: c.read.Load() + c.written.Load(), Duration: time.Since(c.since), Msg: "detached"}
	if err != nil {
		ev.Kind, ev.Err = events.TransferFailed, err.Error()
	}
	c.s.cfg.Events.Publish(ev)
	c.s.log.Info("nbd: client detached", "remote", c.remote.String(), "export", c.export, "read", c.read.Load(), "written", c.written.Load(), "err", err)
}

package nbd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Config configures a Server. Zero values take the defaults named on each field.
type Config struct {
	// Default is the default export's image (--nbd FILE): served under the name "" and under
	// its base name. May be empty when ExportsDir holds the images.
	Default string
	// ExportsDir holds further images, served under their path below it (<netboot>/nbd).
	// It is opened with os.Root: names with "..", and symbolic links leading out, are refused.
	// A missing directory is fine when Default is set.
	ExportsDir string
	// Write lets clients write (--nbd-write); without it every export is read-only.
	Write bool
	// Cow gives each client its own copy-on-write overlay instead of writing through to the
	// image (--nbd-cow; only with Write). With Write and not Cow, one writable connection
	// per export is allowed at a time.
	Cow bool
	// CowInMem keeps overlays in memory (--nbd-cow-in-mem; implies Cow), each capped at
	// CowMemMax bytes, past which writes fail with ENOSPC.
	CowInMem bool
	// CowMemMax caps one client's in-memory overlay; default 64 MiB.
	CowMemMax int64
	// CowMemTotal caps all in-memory overlays together (they stay for the server's life so
	// a rebooting client finds its writes); default half the memory available at New.
	CowMemTotal int64
	// CopyToRAM serves the default image from memory (--nbd-copy-to-ram). New fails with
	// ErrTooBigForRAM when it does not fit in the memory available. With Write and not Cow
	// the writes go to the memory copy and are lost when the server stops.
	CopyToRAM bool
	// OverlayDir holds on-disk overlays as OverlayDir/<export>/<client-key>/{data,bitmap};
	// the daemon passes <state-dir>/nbd. Required for Write+Cow without CowInMem.
	OverlayDir string
	// MaxConns caps concurrent connections (handshaking or not); default 256.
	MaxConns int
	// HandshakeTimeout bounds the whole option haggling of one connection; default 10 s.
	HandshakeTimeout time.Duration
	// MaxInFlight caps the requests one connection may have in flight; default 16.
	MaxInFlight int
	// BufferBytes caps the request buffers the whole server holds at once; default 16 MiB.
	BufferBytes int64
	// Grace is how long Serve lets in-flight requests finish after its context ends before
	// closing connections; default 2 s.
	Grace time.Duration
	// Logger receives the server's logs; nil discards them. Requests are logged at debug.
	Logger *slog.Logger
	// Events receives a transfer-started event per attached client and a transfer-done
	// (or -failed) event when it leaves; nil is fine.
	Events *events.Bus
	// ClientKey names a client by MAC (the daemon looks the address up in its DHCP leases) so
	// its overlay follows it across addresses; when nil or not ok, overlays are keyed by IP.
	ClientKey func(netip.Addr) (mac string, ok bool)
}

// ClientStat is a snapshot of one attached client, for the dashboard, API and metrics.
type ClientStat struct {
	Remote       netip.AddrPort `json:"remote"`
	MAC          string         `json:"mac,omitempty"`
	Export       string         `json:"export"`
	BytesRead    int64          `json:"bytes_read"`
	BytesWritten int64          `json:"bytes_written"`
	OverlayBytes int64          `json:"overlay_bytes"`
	Since        time.Time      `json:"since"`
}

// Server serves NBD (fixed newstyle) from an image file or block device, optionally with
// per-client copy-on-write overlays. It is safe for concurrent use; several Serve calls may
// share one Server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ex   *exports
	buf  *budget
	pool bufPool
	mem  memPool

	quit      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu       sync.Mutex
	conns    map[*conn]struct{}
	overlays map[string]*overlayRef
}

type overlayRef struct {
	st   store
	refs int
}

// New opens the images and returns a Server ready to Serve.
func New(cfg Config) (*Server, error) {
	if cfg.CowMemMax <= 0 {
		cfg.CowMemMax = 64 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 16
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 16 << 20
	}
	cfg.BufferBytes = max(cfg.BufferBytes, chunkSize)
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.CowInMem {
		cfg.Cow = true
	}
	if !cfg.Write {
		cfg.Cow, cfg.CowInMem = false, false
	}
	if cfg.Cow && !cfg.CowInMem && cfg.OverlayDir == "" {
		return nil, errors.New("nbd: copy-on-write overlays on disk need an OverlayDir")
	}
	if cfg.CowInMem && cfg.CowMemTotal <= 0 {
		avail, err := memAvailable()
		if err != nil {
			return nil, fmt.Errorf("nbd: in-memory overlays: cannot tell the memory available (set CowMemTotal): %w", err)
		}
		cfg.CowMemTotal = avail / 2
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ex, err := newExports(cfg.Default, cfg.ExportsDir, cfg.Write && !cfg.Cow, cfg.CopyToRAM)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, ex: ex, buf: newBudget(cfg.BufferBytes),
		quit: make(chan struct{}), conns: make(map[*conn]struct{}), overlays: make(map[string]*overlayRef),
	}
	s.mem.max = cfg.CowMemTotal
	return s, nil
}

// Serve accepts connections on ln until ctx ends or Close is called, then stops reading new
// requests, lets in-flight ones finish for up to Config.Grace, closes the connections and
// returns nil. It closes ln. Any other accept error is returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.quit:
		case <-stop:
		}
		ln.Close()
	}()
	var mine sync.WaitGroup
	var err error
	var backoff time.Duration
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil || s.closing() {
				break
			}
			if errors.Is(aerr, net.ErrClosed) {
				err = aerr
				break
			}
			// Out of file descriptors and the like pass; wait a little and go on
			// rather than stop serving every client.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("nbd: accept failed, retrying", "err", aerr, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			case <-s.quit:
			}
			continue
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			continue
		}
		mine.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer mine.Done()
			c.run()
		}()
	}
	s.drain(&mine)
	return err
}

func (s *Server) closing() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// drain stops every connection from reading further requests, waits up to the grace period
// for their in-flight requests, then closes them and waits for them to end.
func (s *Server) drain(wg *sync.WaitGroup) {
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(s.cfg.Grace):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
}

// Clients returns a snapshot of the clients attached to an export.
func (s *Server) Clients() []ClientStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClientStat, 0, len(s.conns))
	for c := range s.conns {
		if st, ok := c.stat(); ok {
			out = append(out, st)
		}
	}
	return out
}

// Close stops every Serve call, waits for the connections to end, flushes and closes the
// overlays and images. The Server cannot be used afterwards.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	var err error
	for k, o := range s.overlays {
		if f, ok := o.st.(*fileOverlay); ok {
			err = errors.Join(err, f.close())
		}
		delete(s.overlays, k)
	}
	s.mu.Unlock()
	s.ex.close()
	return err
}

// clientKey names a client for its overlay directory: its MAC with dashes when known, else
// its IP address with ':' replaced, so the key is always one safe path element.
func (s *Server) clientKey(a netip.Addr) (key, mac string) {
	if s.cfg.ClientKey != nil {
		if m, ok := s.cfg.ClientKey(a); ok {
			if hw, err := net.ParseMAC(m); err == nil {
				mac = hw.String()
				return strings.ReplaceAll(mac, ":", "-"), mac
			}
		}
	}
	return strings.ReplaceAll(a.Unmap().String(), ":", "_"), ""
}

// attach returns the store a client's connection uses for an export, creating or sharing
// the client's overlay in copy-on-write mode, and a function that gives it back.
func (s *Server) attach(export string, ref *imageRef, key string) (store, func(), error) {
	switch {
	case !s.cfg.Write:
		return ref.img, func() {}, nil
	case !s.cfg.Cow:
		if !ref.writer.CompareAndSwap(false, true) {
			return nil, nil, errWriterBusy
		}
		return ref.img, func() { ref.writer.Store(false) }, nil
	}
	id := export + "\x00" + key
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.overlays[id]
	if o == nil {
		var st store
		if s.cfg.CowInMem {
			st = newMemOverlay(ref.img, s.cfg.CowMemMax, &s.mem)
		} else {
			dir := filepath.Join(s.cfg.OverlayDir, url.PathEscape(export), key)
			f, err := openFileOverlay(dir, ref.img)
			if err != nil {
				return nil, nil, err
			}
			st = f
		}
		o = &overlayRef{st: st}
		s.overlays[id] = o
	}
	o.refs++
	return o.st, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if o.refs--; o.refs > 0 {
			return
		}
		// In-memory overlays stay for the server's life so a rebooting client finds its
		// writes; on-disk ones are flushed and closed until the client returns.
		if f, ok := o.st.(*fileOverlay); ok {
			if err := f.close(); err != nil {
				s.log.Warn("nbd: closing overlay", "export", export, "client", key, "err", err)
			}
			delete(s.overlays, id)
		}
	}, nil
}

var errWriterBusy = errors.New("the export already has a writable connection (--nbd-write without --nbd-cow allows one writer at a time)")

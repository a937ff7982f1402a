package bootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// MACLookup returns the MAC address of the client holding addr, from the daemon's lease
// table; ok is false when no lease is known. It must be safe for concurrent use and cheap.
type MACLookup func(addr netip.Addr) (mac [6]byte, ok bool)

// Option configures a Source.
type Option func(*Source)

// WithMACLookup lets the Source find 01-<mac>/ client directories.
func WithMACLookup(f MACLookup) Option { return func(s *Source) { s.lookup = f } }

// WithoutClientRoots turns the per-client directories off: every client sees the plain root.
func WithoutClientRoots() Option { return func(s *Source) { s.noClientRoots = true } }

// WithPiPrefixes adds fixed TFTP prefixes the Pis are configured with (bootloader
// TFTP_PREFIX=1, TFTP_PREFIX_STR); serial-number and MAC prefixes are always recognised.
func WithPiPrefixes(prefixes ...string) Option {
	return func(s *Source) {
		for _, p := range prefixes {
			if p = strings.Trim(p, "/"); p != "" && !strings.Contains(p, "/") {
				s.piFixed = append(s.piFixed, p)
			}
		}
	}
}

// WithoutPiPrefixes turns the Raspberry Pi prefix overlay off: a prefixed request is served
// only from the prefix directory.
func WithoutPiPrefixes() Option { return func(s *Source) { s.noPi = true } }

// Source is a tftp.FileSource serving per-client roots and Raspberry Pi prefixes on top of
// another source. Safe for concurrent use.
type Source struct {
	inner         tftp.FileSource
	root          *os.Root
	lookup        MACLookup
	noClientRoots bool
	noPi          bool
	piFixed       []string
}

// New wraps inner, a source serving the directory dir (normally tftp.NewDirSource(dir)).
// dir is opened to check which client and Pi directories exist; Close releases it.
func New(inner tftp.FileSource, dir string, opts ...Option) (*Source, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bootfs: open root: %w", err)
	}
	s := &Source{inner: inner, root: r}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close releases the directory handle (not the wrapped source).
func (s *Source) Close() error { return s.root.Close() }

// Open serves req.Path: from the client's own directories first, then the root; a Raspberry
// Pi prefix whose directory exists falls back to the root for files it does not hold.
func (s *Source) Open(req *tftp.Request) (tftp.File, error) {
	p, err := tftp.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	return s.open(req, req.Client.Addr().Unmap(), p, !s.noPi)
}

// open serves the clean path p; piFallback allows one Raspberry Pi prefix to be dropped.
func (s *Source) open(req *tftp.Request, client netip.Addr, p string, piFallback bool) (tftp.File, error) {
	var dirs [2]string
	n := 0
	if !s.noClientRoots {
		first, _, _ := strings.Cut(p, "/")
		if boot.IsClientDir(first) && !s.ownDir(first, client) {
			// Another client's directory: as if it were not there.
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		n = s.clientDirs(client, &dirs)
	}
	f, err := s.openIn(req, dirs[:n], p)
	if !errors.Is(err, fs.ErrNotExist) || !piFallback {
		return f, err
	}
	prefix, rest, ok := strings.Cut(p, "/")
	if !ok || !s.isPiPrefix(prefix) || !s.isDir(prefix) {
		// No prefix directory: "not found" makes the Pi drop the prefix and ask again.
		return nil, err
	}
	// The rest is checked like a request of its own (it may name a client directory).
	return s.open(req, client, rest, false)
}

// openIn tries dir/p for each client directory, then p, passing the first result that is not
// "does not exist".
func (s *Source) openIn(req *tftp.Request, dirs []string, p string) (tftp.File, error) {
	for _, d := range dirs {
		f, err := s.inner.Open(s.sub(req, d+"/"+p))
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
	}
	return s.inner.Open(s.sub(req, p))
}

// sub returns a copy of req for path p.
func (s *Source) sub(req *tftp.Request, p string) *tftp.Request {
	r := *req
	r.Path = p
	return &r
}

// clientDirs fills dirs with the client's existing directories, most specific first, and
// returns how many.
func (s *Source) clientDirs(client netip.Addr, dirs *[2]string) int {
	n := 0
	if !client.IsValid() {
		return 0
	}
	if s.lookup != nil {
		if mac, ok := s.lookup(client); ok {
			if d := "01-" + boot.MACDashed(mac); s.isDir(d) {
				dirs[n] = d
				n++
			}
		}
	}
	if client.Is4() {
		if d := client.String(); s.isDir(d) {
			dirs[n] = d
			n++
		}
	}
	return n
}

// ownDir reports whether the client directory name belongs to client (boot.OwnsClientDir,
// the rule pkg/http applies too).
func (s *Source) ownDir(name string, client netip.Addr) bool {
	var mac [6]byte
	var ok bool
	if s.lookup != nil && client.IsValid() {
		mac, ok = s.lookup(client)
	}
	return boot.OwnsClientDir(name, client, mac, ok)
}

func (s *Source) isDir(name string) bool {
	st, err := s.root.Stat(name)
	return err == nil && st.IsDir()
}

// isPiPrefix reports whether name has the shape of a Raspberry Pi TFTP prefix: a serial
// number (8 hex digits), a MAC with dashes, or a configured fixed prefix.
func (s *Source) isPiPrefix(name string) bool {
	if isHex(name) && len(name) == 8 || isMACDashed(name) {
		return true
	}
	for _, p := range s.piFixed {
		if name == p {
			return true
		}
	}
	return false
}

func isMACDashed(s string) bool {
	_, ok := boot.ParseMACDashed(s)
	return ok
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

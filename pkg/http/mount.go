package httpd

import (
	"fmt"
	"net/http"
	"strings"
)

// Mount serves a read-only handler under a URL prefix beside the netboot directory, e.g.
// the image catalogue at /images/. Its requests go through the same connection caps,
// access log, metrics and transfer events as files: a response with a Content-Length of
// at least ProgressMin is a download on the dashboard, and an *os.File body sent with
// http.ServeContent still goes out by sendfile.
type Mount struct {
	// Prefix is the URL path the handler owns, with a leading and a trailing slash
	// ("/images/"). It gets the prefix itself, the prefix without its trailing slash and
	// everything below, with the URL unchanged (strip it with http.StripPrefix if needed).
	// The status routes (/, /api/…, /metrics) stay the server's.
	Prefix string
	// Handler answers GET and HEAD; other methods are refused with 405 before it runs, and
	// so are paths with "..", a backslash or a control byte (400). Private-file rules
	// (private.go) are the netboot directory's: a mount decides its own.
	Handler http.Handler
}

// checkMounts validates the mounts' prefixes.
func checkMounts(ms []Mount) error {
	for i, m := range ms {
		p := m.Prefix
		if m.Handler == nil {
			return fmt.Errorf("httpd: Config.Mounts[%d] %q: no handler", i, p)
		}
		if len(p) < 3 || p[0] != '/' || p[len(p)-1] != '/' {
			return fmt.Errorf("httpd: Config.Mounts[%d] %q: want a prefix like /images/", i, p)
		}
		if c, err := cleanPath(p); err != nil || "/"+c+"/" != p || strings.HasPrefix(p, "/api/") {
			return fmt.Errorf("httpd: Config.Mounts[%d] %q: not a plain path outside /api/", i, p)
		}
	}
	return nil
}

// mountFor returns the mount owning the URL path p, or nil.
func (s *Server) mountFor(p string) *Mount {
	for i := range s.cfg.Mounts {
		m := &s.cfg.Mounts[i]
		if strings.HasPrefix(p, m.Prefix) || p == m.Prefix[:len(m.Prefix)-1] {
			return m
		}
	}
	return nil
}

// serveMount hands r to m's handler through w, so the handler's response is logged,
// counted and, when large, published as a transfer like a file's.
func (s *Server) serveMount(w *respWriter, r *http.Request, m *Mount) {
	if !getOrHead(w, r) {
		return
	}
	name, err := cleanPath(r.URL.Path)
	if err != nil {
		s.log.Warn("http: refused path", "client", r.RemoteAddr, "path", r.URL.Path)
		httpError(w, http.StatusBadRequest, "bad path")
		return
	}
	w.file = name
	m.Handler.ServeHTTP(w, r)
}

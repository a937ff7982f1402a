package httpd

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// serveFiles serves the netboot directory: scripts are rendered, everything else is a file.
func (s *Server) serveFiles(w *respWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	name, err := cleanPath(r.URL.Path)
	if err != nil {
		s.log.Warn("http: refused path", "client", r.RemoteAddr, "path", r.URL.Path)
		httpError(w, http.StatusBadRequest, "bad path")
		return
	}
	var q *requester // looked up only for private files and scripts
	who := func() *requester {
		if q == nil {
			rq := s.requester(r)
			q = &rq
		}
		return q
	}
	if mayRead, private := privateOwner(name); private && !mayRead(who()) {
		s.log.Info("http: refused another client's file", "client", r.RemoteAddr, "path", name)
		httpError(w, http.StatusNotFound, "")
		return
	}
	root, name := s.rootFor(name)
	if isScript(name) {
		s.serveScript(w, r, root, name, who())
		return
	}
	if isGRUBConfig(name) && s.grubConfig(w, r, root, name, who()) {
		return
	}
	s.serveFile(w, r, root, name, who)
}

// rootFor maps the Raspberry Pi HTTP path to its directory; all other names stay in Root.
func (s *Server) rootFor(name string) (*os.Root, string) {
	pi := s.cfg.PiPath
	if name != pi && !strings.HasPrefix(name, pi+"/") {
		return s.root, name
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(name, pi), "/")
	if s.piRoot != nil {
		if rest == "" {
			rest = "."
		}
		return s.piRoot, rest
	}
	return s.root, path.Join(s.piDir, rest)
}

func (s *Server) serveFile(w *respWriter, r *http.Request, root *os.Root, name string, who func() *requester) {
	f, err := root.Open(name)
	if err != nil {
		s.openError(w, r, name, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.openError(w, r, name, err)
		return
	}
	if st.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			// Relative links in index.html and listings need the slash.
			u := *r.URL
			u.Path += "/"
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		idx := path.Join(name, "index.html")
		if fi, err := root.Stat(idx); err == nil && fi.Mode().IsRegular() {
			f.Close()
			s.serveFile(w, r, root, idx, who)
			return
		}
		if !s.cfg.ListDirs {
			httpError(w, http.StatusNotFound, "")
			return
		}
		s.listDir(w, r, f, name, who)
		return
	}
	if !st.Mode().IsRegular() {
		httpError(w, http.StatusForbidden, "not a regular file")
		return
	}
	h := w.Header()
	// Strong validator from size and mtime, as nginx does; ServeContent evaluates
	// If-Match/If-None-Match/If-Range against it.
	h.Set("Etag", fmt.Sprintf(`"%x-%x"`, st.ModTime().UnixNano(), st.Size()))
	// Setting the type up front also keeps ServeContent from reading 512 bytes to sniff.
	h.Set("Content-Type", contentType(name))
	w.file = name
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// openError maps an open failure: missing → 404; everything else (permission, a symlink
// leading out of the root, loops) → 403, logged.
func (s *Server) openError(w *respWriter, r *http.Request, name string, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		httpError(w, http.StatusNotFound, "")
		return
	}
	s.log.Warn("http: refused file", "client", r.RemoteAddr, "path", name, "err", err)
	httpError(w, http.StatusForbidden, "")
}

// listDir lists d (name, relative to its root), leaving out other clients' private files.
func (s *Server) listDir(w *respWriter, r *http.Request, d *os.File, name string, who func() *requester) {
	const maxEntries = 10000
	ents, err := d.ReadDir(maxEntries)
	if err != nil && len(ents) == 0 {
		ents = nil
	}
	ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool {
		mayRead, private := privateOwner(path.Join(name, e.Name()))
		return private && !mayRead(who())
	})
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var b strings.Builder
	title := html.EscapeString(r.URL.Path)
	fmt.Fprintf(&b, "<!doctype html>\n<meta name=viewport content=\"width=device-width\">\n<title>%s</title>\n<h1>%s</h1>\n<pre>\n<a href=\"../\">../</a>\n", title, title)
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		u := url.URL{Path: n}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", html.EscapeString(u.String()), html.EscapeString(n))
	}
	b.WriteString("</pre>\n")
	body := b.String()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

// contentType is a fixed table for what a netboot directory holds; unlike
// mime.TypeByExtension it does not depend on the host's /etc/mime.types.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".ipxe", ".cfg", ".conf", ".txt", ".sh", ".cmdline", ".menu", ".lst", ".yaml", ".yml":
		return "text/plain; charset=utf-8"
	case ".json":
		return "application/json"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".png":
		return "image/png"
	case ".svg":
		return "image/svg+xml"
	case ".iso":
		return "application/x-iso9660-image"
	case ".xz":
		return "application/x-xz"
	case ".gz", ".tgz":
		return "application/gzip"
	case ".zst":
		return "application/zstd"
	}
	return "application/octet-stream"
}

package images

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/images/iso9660"
)

// BootOnceMarker is the query parameter a generated menu puts on the first URL of a
// boot-once entry (its kernel, ISO or script): ?once=<mac>. The handler reports the fetch
// through Handler.OnFetch, which is where the daemon consumes the boot-once setting.
const BootOnceMarker = "once"

// Handler serves /images/<entry> (the ISO or script file itself) and
// /images/<entry>/<path> (a file inside the ISO or the kernel directory), GET and HEAD, with
// Range, ETag and Last-Modified through http.ServeContent. Files inside an ISO whose bytes
// are one contiguous extent are sent with sendfile from the ISO's descriptor.
type Handler struct {
	Catalog *Catalog
	// Prefix is the URL path the handler is mounted at; "/images/" when empty.
	Prefix string
	// OnFetch, when set, is called for a request carrying ?once=<mac> with the MAC and the
	// entry name, once the file is found and before the body is sent.
	OnFetch func(mac, entry string)
	Logger  *slog.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix())
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, inner, _ := strings.Cut(rest, "/")
	e, ok := h.Catalog.Lookup(name)
	if !ok || name == "" {
		http.NotFound(w, r)
		return
	}
	inner, err := cleanInner(inner)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	full := filepath.Join(h.Catalog.Dir(), name)
	switch {
	case inner == "" && (e.Kind == KindISO || e.Kind == KindScript):
		h.serveFile(w, r, full, name)
	case inner != "" && e.Kind == KindISO:
		h.serveISO(w, r, full, inner)
	case inner != "" && e.Kind == KindDir:
		h.serveDir(w, r, full, inner)
	default:
		http.NotFound(w, r)
	}
}

// cleanInner validates a path inside an entry: no "..", no empty or "." elements.
func cleanInner(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	var out []string
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "", ".":
			continue
		case "..":
			return "", fs.ErrPermission
		}
		if strings.ContainsRune(el, 0) || strings.ContainsRune(el, '\\') {
			return "", fs.ErrPermission
		}
		out = append(out, el)
	}
	return strings.Join(out, "/"), nil
}

// fetched reports a boot-once marker once the requested file has been found, so a request
// for a missing file consumes nothing.
func (h *Handler) fetched(r *http.Request) {
	if h.OnFetch == nil {
		return
	}
	if mac := r.URL.Query().Get(BootOnceMarker); mac != "" {
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, h.prefix()), "/")
		h.OnFetch(mac, name)
	}
}

func (h *Handler) prefix() string {
	if h.Prefix == "" {
		return "/images/"
	}
	return h.Prefix
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || errors.Is(err, fs.ErrPermission) {
		http.NotFound(w, r)
		return
	}
	if h.Logger != nil {
		h.Logger.Warn("images: serve", "path", r.URL.Path, "err", err)
	}
	http.Error(w, "image unreadable", http.StatusInternalServerError)
}

func contentType(w http.ResponseWriter, name string) {
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, full, name string) {
	f, err := os.Open(full)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		h.fail(w, r, fs.ErrNotExist)
		return
	}
	w.Header().Set("ETag", etag(st, 0, st.Size()))
	contentType(w, name)
	h.fetched(r)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// etag names the bytes served: the container's identity and the byte range in it.
func etag(st os.FileInfo, off, n int64) string {
	return fmt.Sprintf(`"%x-%x-%x-%x-%x"`, inode(st), st.Size(), st.ModTime().UnixNano(), off, n)
}

func (h *Handler) serveISO(w http.ResponseWriter, r *http.Request, full, inner string) {
	f, err := os.Open(full)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	img, err := iso9660.Open(f, st.Size())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	file, err := img.Open(inner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var body io.ReadSeeker
	off, n, contiguous := file.Extent()
	if contiguous {
		if body, err = newSectionFile(f, off, n); err != nil {
			h.fail(w, r, err)
			return
		}
		w.Header().Set("ETag", etag(st, off, n))
	} else {
		body = file.Reader()
		w.Header().Set("ETag", etag(st, file.Extents()[0].Offset, file.Size()))
	}
	contentType(w, inner)
	h.fetched(r)
	http.ServeContent(w, r, "", newer(st.ModTime(), file.ModTime()), body)
}

func newer(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// serveDir serves a file of a kernel directory. The client's path has no ".." (cleanInner);
// symlinks inside the entry are followed on purpose, like the catalogue's probe does: an
// operator links a packaged tree (Debian's netboot images) or a USB stick into images/.
func (h *Handler) serveDir(w http.ResponseWriter, r *http.Request, full, inner string) {
	f, err := os.Open(filepath.Join(full, filepath.FromSlash(inner)))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		h.fail(w, r, fs.ErrNotExist)
		return
	}
	w.Header().Set("ETag", etag(st, 0, st.Size()))
	contentType(w, inner)
	h.fetched(r)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

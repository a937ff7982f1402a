package httpd

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Menus is the daemon's boot-menu side: the image catalogue, the machine profiles and the
// boot-once settings. pkg/http serves them (the default iPXE script, /api/images,
// /api/profiles, /api/nextboot) without importing the packages that hold them.
type Menus interface {
	// DefaultScript returns the iPXE script for c when the netboot directory has neither
	// boot.ipxe nor c's hosts/<mac>.ipxe; ok = false leaves the request a 404.
	DefaultScript(c MenuClient) (script []byte, ok bool)
	// GRUBConfig returns grub.cfg for c (a GRUB network client, e.g. Secure Boot's signed
	// GRUB under UEFI HTTP boot) when the netboot directory has no grub/grub.cfg.
	GRUBConfig(c MenuClient) (cfg []byte, ok bool)
	// Images, Profiles and NextBoots are the JSON bodies of GET /api/images, /api/profiles
	// and /api/nextboot.
	Images() any
	Profiles() any
	NextBoots() any
	// SetNextBoot makes entry mac's next boot (once); "" clears it. An error wrapping
	// ErrBadRequest is the caller's fault (unknown entry, bad MAC): 400.
	SetNextBoot(mac, entry string) error
	// Token is the dashboard's write token; "" refuses every write.
	Token() string
}

// ErrBadRequest marks a Menus.SetNextBoot error the request caused.
var ErrBadRequest = errors.New("bad request")

// MenuClient is what Menus.DefaultScript learns about the requester.
type MenuClient struct {
	IP    netip.Addr
	Info  ClientInfo // the daemon's facts, when Known
	Known bool
	// Platform and BuildArch are iPXE's ${platform} and ${buildarch} when the client put
	// them in the query string (filtered); they matter when the daemon does not know it.
	Platform, BuildArch string
	// BaseURL is this server as the client reached it, e.g. "http://10.0.0.1:8080".
	BaseURL string
}

// defaultScript serves Menus.DefaultScript's script for boot.ipxe, with the headers of a
// rendered script.
func (s *Server) defaultScript(w *respWriter, r *http.Request, q *requester) bool {
	if s.cfg.Menus == nil {
		return false
	}
	return s.serveMenu(w, r, q, s.cfg.Menus.DefaultScript)
}

// isGRUBConfig reports whether name is where Debian's GRUB network image looks for its
// configuration ($prefix/grub.cfg with the prefix /grub, or the root).
func isGRUBConfig(name string) bool { return name == "grub/grub.cfg" || name == "grub.cfg" }

// grubConfig serves Menus.GRUBConfig's grub.cfg when the netboot directory has none at name.
func (s *Server) grubConfig(w *respWriter, r *http.Request, root *os.Root, name string, q *requester) bool {
	if s.cfg.Menus == nil {
		return false
	}
	if _, err := root.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return s.serveMenu(w, r, q, s.cfg.Menus.GRUBConfig)
}

// serveMenu answers with what gen generates for the requester, with the headers of a
// rendered script (per client, never cached); false when gen has nothing.
func (s *Server) serveMenu(w *respWriter, r *http.Request, q *requester, gen func(MenuClient) ([]byte, bool)) bool {
	d := s.scriptData(r, q)
	info := q.info
	if !q.known && q.hasMAC {
		// A ?mac= the operator chose to trust (Config.TrustQueryMAC): proxy mode.
		info.MAC = net.HardwareAddr(q.mac[:]).String()
	}
	c := MenuClient{IP: q.ip, Info: info, Known: q.known, Platform: d.Platform, BuildArch: d.BuildArch, BaseURL: d.BaseURL}
	out, ok := gen(c)
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "*")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
	return true
}

func isMenuRoute(p string) bool {
	return p == "/api/images" || p == "/api/profiles" || p == "/api/nextboot"
}

// isNextBootWrite reports whether r is the one request that carries a body: POST /api/nextboot.
func (s *Server) isNextBootWrite(r *http.Request) bool {
	return s.cfg.Status && s.cfg.Menus != nil && r.Method == http.MethodPost && r.URL.Path == "/api/nextboot"
}

// serveMenuAPI answers the catalogue, profile and next-boot routes.
func (s *Server) serveMenuAPI(w *respWriter, r *http.Request) {
	m := s.cfg.Menus
	if m == nil {
		httpError(w, http.StatusNotFound, "no image catalogue")
		return
	}
	if r.URL.Path == "/api/nextboot" && r.Method == http.MethodPost {
		s.setNextBoot(w, r, m)
		return
	}
	if r.URL.Path == "/api/nextboot" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST")
		httpError(w, http.StatusMethodNotAllowed, "")
		return
	}
	if !getOrHead(w, r) {
		return
	}
	var v any
	switch r.URL.Path {
	case "/api/images":
		v = m.Images()
	case "/api/profiles":
		v = m.Profiles()
	default:
		v = m.NextBoots()
	}
	writeJSON(w, r, http.StatusOK, v)
}

// maxNextBootBody bounds POST /api/nextboot's body: a MAC and an entry name.
const maxNextBootBody = 4 << 10

// setNextBoot is POST /api/nextboot {"mac": …, "entry": …}. It needs the write token
// (Authorization: Bearer), a same-origin request (a page elsewhere must not drive a browser
// that holds the token) and an entry the catalogue knows.
func (s *Server) setNextBoot(w *respWriter, r *http.Request, m Menus) {
	// The body is read under a short deadline and the connection is not reused (refuseBody
	// is skipped for this route only).
	_ = w.rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	w.Header().Set("Connection", "close")
	if !s.sameOrigin(r) {
		s.log.Warn("http: refused cross-origin next-boot write", "client", r.RemoteAddr, "origin", r.Header.Get("Origin"))
		httpError(w, http.StatusForbidden, "cross-origin request")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	want := m.Token()
	if !ok || want == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(want)) != 1 {
		s.log.Warn("http: refused next-boot write without the token", "client", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="pxe-edge"`)
		httpError(w, http.StatusUnauthorized, "the dashboard token is required (Authorization: Bearer <token>)")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		httpError(w, http.StatusUnsupportedMediaType, "want application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNextBootBody+1))
	if err != nil || len(body) > maxNextBootBody {
		httpError(w, http.StatusBadRequest, "body unreadable or larger than 4 KiB")
		return
	}
	var req struct {
		MAC   string `json:"mac"`
		Entry string `json:"entry"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "want {\"mac\": …, \"entry\": …}")
		return
	}
	if err := m.SetNextBoot(req.MAC, req.Entry); err != nil {
		if errors.Is(err, ErrBadRequest) {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.log.Error("http: next-boot write failed", "client", r.RemoteAddr, "err", err)
		httpError(w, http.StatusInternalServerError, "could not store the setting (see server log)")
		return
	}
	s.log.Info("http: next boot set", "client", r.RemoteAddr, "mac", req.MAC, "entry", req.Entry)
	writeJSON(w, r, http.StatusOK, m.NextBoots())
}

// sameOrigin reports whether a browser says r comes from a page of this server: Sec-Fetch-Site
// "same-origin" (or "none": typed by the user), else an Origin whose host is the request's
// Host. A request with neither header is not from a browser page (curl, scripts) and passes:
// the token protects it.
func (s *Server) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// writeJSON writes v as a JSON response with status code.
func writeJSON(w *respWriter, r *http.Request, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "")
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

package httpd

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/script"
)

// maxScript bounds a script template; iPXE scripts are a few KiB.
const maxScript = 1 << 20

func isScript(name string) bool {
	return strings.HasSuffix(name, ".ipxe") || strings.HasSuffix(name, ".ipxe.tmpl")
}

// isToken reports whether v matches ^[A-Za-z0-9_.-]{1,32}$: a platform or buildarch name as
// iPXE spells it. Checked by hand: the daemon's one regular expression was what linked the
// regexp package into the binary (docs/bench/size.md).
func isToken(v string) bool {
	if len(v) < 1 || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// scriptData gathers the facts for r: the daemon's first, then what the client put in the
// query string (iPXE can send ?mac=${mac:hexhyp}&buildarch=${buildarch}&platform=${platform}),
// which only fills gaps — in proxy mode the daemon may not know the client's address.
func (s *Server) scriptData(r *http.Request, q *requester) script.Data {
	var d script.Data
	d.IP = q.ip.String()
	if q.known {
		ci := q.info
		d.MAC, d.Arch, d.ArchName = ci.MAC, ci.Arch, ci.ArchName
		d.Platform, d.BuildArch, d.Hostname = ci.Platform, ci.BuildArch, ci.Hostname
		d.UUID, d.Kind, d.Reservation = ci.UUID, ci.Kind, ci.Reservation
	}
	query := r.URL.Query()
	if d.MAC == "" {
		// A fact the client states about itself: shown to the template, but it selects no
		// private file unless it is the requester's identity (private.go).
		d.MAC = query.Get("mac")
	}
	if v := query.Get("platform"); d.Platform == "" && isToken(v) {
		d.Platform = v
	}
	if v := query.Get("buildarch"); d.BuildArch == "" && isToken(v) {
		d.BuildArch = v
	}
	if mac, ok := parseMAC6(d.MAC); ok {
		d.MAC = net.HardwareAddr(mac[:]).String()
		d.MACHyp = boot.MACDashed(mac)
		d.MACHex = strings.ReplaceAll(d.MACHyp, "-", "")
	} else {
		d.MAC = ""
	}
	// What the client told DHCP reaches the script as text: a hostname "x\nshell" or
	// "x initrd=evil" would be an iPXE command or a kernel argument. Keep only what such
	// facts are made of.
	d.Hostname = scriptFact(d.Hostname, 253)
	d.Platform = scriptFact(d.Platform, 32)
	d.BuildArch = scriptFact(d.BuildArch, 32)
	d.ArchName = scriptFact(d.ArchName, 32)
	d.UUID = scriptFact(d.UUID, 36)
	d.Kind = scriptFact(d.Kind, 32)
	// The server address the client used is right by construction; --http-server-ip
	// overrides it (NAT, or a name clients must use).
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if la, err := netip.ParseAddrPort(addrString(local)); err == nil {
		d.Server, d.Port = la.Addr().Unmap().String(), int(la.Port())
	}
	if s.cfg.ServerIP.IsValid() {
		d.Server = s.cfg.ServerIP.String()
	}
	host := d.Server
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	d.BaseURL = "http://" + host
	if d.Port != 80 && d.Port != 0 {
		d.BaseURL += ":" + strconv.Itoa(d.Port)
	}
	if n := s.cfg.NBD; n != nil {
		d.NBD = n.facts(d.Server)
	}
	return d
}

// NBDExport is the NBD root scripts can name: a server's address (invalid: the address the
// client reached HTTP on), port and export name.
type NBDExport struct {
	Server netip.Addr
	Port   int
	Export string
}

// facts are {{.NBD.*}} for a client that reached HTTP at server.
func (n *NBDExport) facts(server string) map[string]string {
	if n.Server.IsValid() && !n.Server.IsUnspecified() {
		server = n.Server.String()
	}
	hostPort := net.JoinHostPort(server, strconv.Itoa(n.Port))
	return map[string]string{
		"server": server,
		"port":   strconv.Itoa(n.Port),
		"export": n.Export,
		"root":   hostPort + "/" + n.Export,
		"url":    "nbd://" + hostPort + "/" + n.Export,
	}
}

// scriptFact returns s with every byte but ASCII letters, digits, '-', '.' and '_' dropped,
// cut to max bytes: no space, quote, '$', '{', newline or control byte can reach a
// script or a kernel command line through a client-controlled fact. Reservation fields are
// the operator's own file and are not filtered.
func scriptFact(s string, max int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !factByte(s[i]) {
			clean = false
			break
		}
	}
	if !clean {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if factByte(s[i]) {
				b = append(b, s[i])
			}
		}
		s = string(b)
	}
	if len(s) > max {
		s = s[:max]
	}
	return s
}

func factByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// serveScript renders name (or its .tmpl twin, or for boot.ipxe the client's
// hosts/<mac-hexhyp>.ipxe override) into a buffer, so a template error becomes a clean 500
// instead of half a script that iPXE would run. The override is chosen by the requester's
// own MAC (private.go), never by a ?mac= the daemon cannot vouch for.
func (s *Server) serveScript(w *respWriter, r *http.Request, root *os.Root, name string, q *requester) {
	d := s.scriptData(r, q)
	var cands []string
	if name == "boot.ipxe" && q.hasMAC {
		h := "hosts/" + boot.MACDashed(q.mac)
		cands = append(cands, h+".ipxe", h+".ipxe.tmpl")
	}
	cands = append(cands, name)
	if !strings.HasSuffix(name, ".tmpl") {
		cands = append(cands, name+".tmpl")
	}
	var src []byte
	var used string
	var err error
	for _, c := range cands {
		src, err = readSmall(root, c)
		if err == nil {
			used = c
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if used == "" {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			if name == "boot.ipxe" && s.defaultScript(w, r, q) {
				return
			}
			httpError(w, http.StatusNotFound, "")
			return
		}
		s.openError(w, r, name, err)
		return
	}
	var out []byte
	t, err := script.Parse(path.Base(used), string(src))
	if err == nil {
		out, err = t.Render(d)
	}
	if err != nil {
		s.log.Error("http: script template failed", "client", r.RemoteAddr, "template", used, "err", err)
		httpError(w, http.StatusInternalServerError, "script template failed (see server log)")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	// Per-client output: caches must not hand it to another machine.
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "*")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	if st.Size() > maxScript {
		return nil, errors.New("script larger than 1 MiB")
	}
	return io.ReadAll(io.LimitReader(f, maxScript))
}

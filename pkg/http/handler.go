package httpd

import (
	"net/http"
	"strconv"
	"time"
)

func (s *Server) routes() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP is the single entry point. It owns the access log line and the request
// metrics, and keeps request bodies from holding the connection.
func (s *Server) serveHTTP(hw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := newRespWriter(s, hw, r)
	returned := false
	defer func() {
		w.xfer.finish()
		if !returned && w.status == 0 {
			w.status = http.StatusInternalServerError // a panic, which net/http logs
		}
		if w.status == 0 {
			w.status = http.StatusOK
		}
		s.met.request(w.status, w.bytes)
		s.log.Info("http",
			"client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
			"status", w.status, "bytes", w.bytes, "duration", time.Since(start).Round(time.Microsecond))
	}()
	w.Header().Set("Server", "pxe-edge")
	if r.ContentLength != 0 && !s.isNextBootWrite(r) {
		refuseBody(w)
	}
	s.route(w, r)
	returned = true
}

// route picks the handler: status routes when enabled, then mounts, then the netboot
// directory.
func (s *Server) route(w *respWriter, r *http.Request) {
	if s.cfg.Status && isStatusRoute(r.URL.Path) {
		if !s.statusHostAllowed(r) {
			s.log.Info("http: refused status request for a foreign Host", "client", r.RemoteAddr, "host", r.Host)
			httpError(w, http.StatusMisdirectedRequest, "unknown Host; see Config.StatusHosts")
			return
		}
		switch r.URL.Path {
		case "/":
			s.serveDashboard(w, r)
		case "/api/status":
			s.serveStatus(w, r)
		case "/api/events":
			s.serveEvents(w, r)
		case "/metrics":
			s.serveMetrics(w, r)
		default:
			s.serveMenuAPI(w, r)
		}
		return
	}
	if m := s.mountFor(r.URL.Path); m != nil {
		s.serveMount(w, r, m)
		return
	}
	s.serveFiles(w, r)
}

func isStatusRoute(p string) bool {
	return p == "/" || p == "/api/status" || p == "/api/events" || p == "/metrics" || isMenuRoute(p)
}

// refuseBody makes sure a request body is never waited for. No route reads one (every
// route but POST /api/nextboot, which reads its small body under its own deadline, is GET
// or HEAD), but after the handler net/http reads up to 256 KiB of an unread body
// to keep the connection, without a deadline: a client that announces a body and never sends
// it would hold its slot for good. So the body's read deadline is now, and the connection is
// closed after the answer (whatever is left of the body must not be parsed as a request).
func refuseBody(w *respWriter) {
	_ = w.rc.SetReadDeadline(time.Now())
	w.Header().Set("Connection", "close")
}

// httpError writes a short plain-text error with an explicit Content-Length: GRUB 2.06 waits
// ~33 s for the connection to close on an error response that lacks one.
func httpError(w http.ResponseWriter, code int, msg string) {
	body := strconv.Itoa(code) + " " + http.StatusText(code)
	if msg != "" {
		body += ": " + msg
	}
	body += "\n"
	h := w.Header()
	for _, k := range []string{"Content-Encoding", "Etag", "Last-Modified", "Content-Range", "Accept-Ranges"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// getOrHead refuses other methods with 405 and an Allow header.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	httpError(w, http.StatusMethodNotAllowed, "")
	return false
}

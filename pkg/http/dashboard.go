package httpd

import (
	_ "embed"
	"net/http"
	"strconv"
)

// dashboardHTML is the whole dashboard: one page, inline CSS and vanilla JS, no external
// resources, so it works on an isolated lab switch and from a phone.
//
//go:embed dashboard.html
var dashboardHTML []byte

func (s *Server) serveDashboard(w *respWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(dashboardHTML)))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(dashboardHTML)
	}
}

// Package httpd is pxe-edge's HTTP side: it serves the netboot directory (confined with
// os.Root, Range and conditional requests, the kernel's sendfile path for large files),
// renders per-client iPXE scripts from templates, and hosts the live boot dashboard, its
// JSON/SSE API and Prometheus metrics.
//
// The directory is pkg/http; the package is named httpd so that it does not shadow net/http
// at call sites. It imports pkg/events, pkg/boot (MAC naming, the per-client directory rule)
// and pkg/script (the template engine), all a floor below, and the standard library: what
// it needs from the DHCP side comes through the Clients interface, which the daemon
// implements.
//
// Routes:
//
//	GET /             dashboard (Config.Status), else index.html / listing / 404
//	GET /api/status   JSON: mode, interface, leases, DHCP messages by type, clients,
//	                  transfers, recent events
//	GET /api/events   server-sent events: "snapshot" (≤ 4/s, after changes) and "event"
//	GET /metrics      Prometheus text format, written by hand
//	GET /<path>       a file under Config.Root; *.ipxe and *.ipxe.tmpl are rendered
//	GET /<PiPath>/…   the Raspberry Pi HTTP boot directory (boot.img, boot.sig)
//
// Scripts: every *.ipxe (or its *.ipxe.tmpl twin) is a template in text/template's syntax,
// rendered by pkg/script (without text/template's executor, for binary size) with
// script.Data into a buffer first, so a template error or a work limit is a 500 and never
// half a script.
// boot.ipxe is first looked up as hosts/<mac-hexhyp>.ipxe for the requesting client. Facts
// come from Clients by the request's source address; iPXE may add ?mac=&platform=&buildarch=
// which only fill facts the daemon does not know.
//
// Private files (private.go): another client's 01-<mac>/ or <IPv4>/ directory (the rule of
// pkg/boot, which TFTP's pkg/bootfs applies too) and another host's hosts/<mac>.… script are
// a 404. The requester is its source IP and the MAC the daemon leased to it; ?mac= names a
// client only with Config.TrustQueryMAC, and only one the daemon has no lease for.
//
// Refusals: a path with "..", a backslash or a control byte is a 400; a symlink leading out of
// the root is a 403; every error response carries a Content-Length (GRUB waits ~33 s for
// one that does not).
package httpd

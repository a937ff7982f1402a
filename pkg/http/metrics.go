package httpd

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// The Prometheus text exposition format is written by hand: the official client library
// (with its protobuf and expfmt dependencies) adds megabytes to a binary meant for an SD
// card, for a dozen counters.

type int64Gauge struct{ v atomic.Int64 }

func (g *int64Gauge) add(n int64) { g.v.Add(n) }
func (g *int64Gauge) load() int64 { return g.v.Load() }

// statusCodes is the fixed label set of pxe_edge_http_requests_total; other codes count
// as "other" so a scanner cannot grow the series without bound.
var statusCodes = []int{200, 206, 301, 304, 400, 403, 404, 405, 412, 416, 421, 500, 503}

type httpMetrics struct {
	requests        [14]atomic.Uint64 // statusCodes order, last = other
	bytes           atomic.Uint64
	connsActive     int64Gauge
	connsPerClient  atomic.Uint64 // refused at the per-client cap
	connsIdleClosed atomic.Uint64 // idle keep-alives closed to make room
	transfersActive int64Gauge
}

func (m *httpMetrics) request(code int, n int64) {
	i := slices.Index(statusCodes, code)
	if i < 0 {
		i = len(statusCodes)
	}
	m.requests[i].Add(1)
	m.bytes.Add(uint64(max(n, 0)))
}

// refused counts the connection limiter's decisions (limit.go).
func (m *httpMetrics) refused(reason string) {
	switch reason {
	case "per_client":
		m.connsPerClient.Add(1)
	case "idle_closed":
		m.connsIdleClosed.Add(1)
	}
}

func (m *httpMetrics) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		m.connsActive.add(1)
	case http.StateClosed, http.StateHijacked:
		m.connsActive.add(-1)
	}
}

type promWriter struct{ b bytes.Buffer }

func (p *promWriter) head(name, typ, help string) {
	fmt.Fprintf(&p.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) sample(name string, v any, labels ...string) {
	p.b.WriteString(name)
	if len(labels) > 0 {
		p.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.b.WriteString(labels[i])
			p.b.WriteString(`="`)
			p.b.WriteString(escapeLabel(labels[i+1]))
			p.b.WriteByte('"')
		}
		p.b.WriteByte('}')
	}
	fmt.Fprintf(&p.b, " %v\n", v)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeMetrics renders every metric family.
func (s *Server) writeMetrics() []byte {
	var p promWriter
	c := s.track.counters()

	p.head("pxe_edge_build_info", "gauge", "Build information; the value is always 1.")
	p.sample("pxe_edge_build_info", 1, "version", s.cfg.Version, "goversion", runtime.Version(), "goarch", runtime.GOARCH)

	var d DaemonStatus
	if s.cfg.Clients != nil {
		d = s.cfg.Clients.Status()
	}
	p.head("pxe_edge_dhcp_received_total", "counter", "DHCP messages received, by message type.")
	types := make([]string, 0, len(d.DHCPReceived))
	for k := range d.DHCPReceived {
		types = append(types, k)
	}
	slices.Sort(types)
	for _, k := range types {
		p.sample("pxe_edge_dhcp_received_total", d.DHCPReceived[k], "type", k)
	}
	p.head("pxe_edge_dhcp_replies_total", "counter", "DHCP replies sent (OFFER, ACK, NAK, PROXY-OFFER, PROXY-ACK), from the event bus.")
	for _, k := range append(slices.Clone(knownReplies), "OTHER") {
		if v, ok := c.dhcpReplies[k]; ok || k != "OTHER" {
			p.sample("pxe_edge_dhcp_replies_total", v, "type", k)
		}
	}
	if s.cfg.Clients != nil {
		p.head("pxe_edge_dhcp_pool_size", "gauge", "Addresses in the dynamic pool.")
		p.sample("pxe_edge_dhcp_pool_size", d.PoolSize)
		p.head("pxe_edge_dhcp_pool_used", "gauge", "Pool addresses leased or offered.")
		p.sample("pxe_edge_dhcp_pool_used", d.PoolUsed)
		p.head("pxe_edge_dhcp_leases", "gauge", "Rows in the lease table.")
		p.sample("pxe_edge_dhcp_leases", len(d.Leases))
		p.head("pxe_edge_link_carrier", "gauge", "1 when the DHCP interface has carrier.")
		p.sample("pxe_edge_link_carrier", b2i(d.Carrier), "interface", d.Interface)
		p.head("pxe_edge_dhcp_mode", "gauge", "1 for the DHCP mode that runs now.")
		p.sample("pxe_edge_dhcp_mode", 1, "configured", d.Mode, "active", d.ActiveMode)
	}

	p.head("pxe_edge_tftp_transfers_total", "counter", "TFTP transfers finished, by result.")
	p.sample("pxe_edge_tftp_transfers_total", c.tftpDone, "result", "done")
	p.sample("pxe_edge_tftp_transfers_total", c.tftpFailed, "result", "failed")
	p.head("pxe_edge_tftp_transfers_active", "gauge", "TFTP transfers in progress.")
	p.sample("pxe_edge_tftp_transfers_active", s.track.activeTransfers("tftp"))
	p.head("pxe_edge_tftp_bytes_total", "counter", "Bytes sent by finished TFTP transfers.")
	p.sample("pxe_edge_tftp_bytes_total", c.tftpBytes)
	p.head("pxe_edge_tftp_retransmits_total", "counter", "TFTP retransmissions of finished transfers.")
	p.sample("pxe_edge_tftp_retransmits_total", c.tftpRetrans)

	p.head("pxe_edge_http_requests_total", "counter", "HTTP requests served, by status code.")
	for i, code := range statusCodes {
		p.sample("pxe_edge_http_requests_total", s.met.requests[i].Load(), "code", strconv.Itoa(code))
	}
	p.sample("pxe_edge_http_requests_total", s.met.requests[len(statusCodes)].Load(), "code", "other")
	p.head("pxe_edge_http_response_bytes_total", "counter", "HTTP body bytes sent.")
	p.sample("pxe_edge_http_response_bytes_total", s.met.bytes.Load())
	p.head("pxe_edge_http_connections_active", "gauge", "Open HTTP connections.")
	p.sample("pxe_edge_http_connections_active", s.met.connsActive.load())
	p.head("pxe_edge_http_connections_limited_total", "counter", "HTTP connections refused at the per-client cap, and idle keep-alives closed to make room.")
	p.sample("pxe_edge_http_connections_limited_total", s.met.connsPerClient.Load(), "action", "refused_per_client")
	p.sample("pxe_edge_http_connections_limited_total", s.met.connsIdleClosed.Load(), "action", "idle_closed")
	p.head("pxe_edge_http_transfers_active", "gauge", "HTTP downloads in progress (files above the progress threshold).")
	p.sample("pxe_edge_http_transfers_active", s.met.transfersActive.load())
	p.head("pxe_edge_http_transfers_total", "counter", "HTTP downloads above the progress threshold finished, by result.")
	p.sample("pxe_edge_http_transfers_total", c.httpDone, "result", "done")
	p.sample("pxe_edge_http_transfers_total", c.httpFailed, "result", "failed")

	if h := d.LeaseStore; h != nil {
		p.head("pxe_edge_lease_store_degraded", "gauge", "1 while the lease store cannot write (a full disk): no new DHCP client gets an address.")
		p.sample("pxe_edge_lease_store_degraded", b2i(h.Degraded))
		p.head("pxe_edge_lease_store_refused_total", "counter", "Lease commits refused by the store (no ACK sent).")
		p.sample("pxe_edge_lease_store_refused_total", h.Refused)
		p.head("pxe_edge_lease_store_write_failures_total", "counter", "Failed lease-store writes or syncs.")
		p.sample("pxe_edge_lease_store_write_failures_total", h.Failures)
		p.head("pxe_edge_lease_store_recoveries_total", "counter", "Degraded periods of the lease store that ended by themselves.")
		p.sample("pxe_edge_lease_store_recoveries_total", h.Recoveries)
		p.head("pxe_edge_dhcp_new_clients_refused_total", "counter", "DISCOVERs of new clients left unanswered while the lease store could not write.")
		p.sample("pxe_edge_dhcp_new_clients_refused_total", h.NewClientsWaiting)
	}
	if d.NBDOn {
		writeNBDMetrics(&p, d.NBD)
	}

	p.head("pxe_edge_events_dropped_total", "counter", "Events subscribers missed because their buffer was full (metrics derived from events undercount by this much at most).")
	p.sample("pxe_edge_events_dropped_total", s.cfg.Events.Dropped())
	return p.b.Bytes()
}

func (s *Server) serveMetrics(w *respWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	body := s.writeMetrics()
	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeNBDMetrics exports the attached NBD clients per export: their number and what they
// have read, written and hold in overlays. They are gauges: a client that leaves takes its
// bytes with it.
func writeNBDMetrics(p *promWriter, cl []NBDClient) {
	type sum struct{ clients, read, written, overlay int64 }
	by := map[string]*sum{}
	var names []string
	for _, c := range cl {
		e := by[c.Export]
		if e == nil {
			e = &sum{}
			by[c.Export] = e
			names = append(names, c.Export)
		}
		e.clients++
		e.read += c.BytesRead
		e.written += c.BytesWritten
		e.overlay += c.OverlayBytes
	}
	slices.Sort(names)
	for _, m := range []struct {
		name, help string
		v          func(*sum) int64
	}{
		{"pxe_edge_nbd_clients", "NBD clients attached, by export.", func(e *sum) int64 { return e.clients }},
		{"pxe_edge_nbd_read_bytes", "Bytes read by the attached NBD clients, by export.", func(e *sum) int64 { return e.read }},
		{"pxe_edge_nbd_written_bytes", "Bytes written by the attached NBD clients, by export.", func(e *sum) int64 { return e.written }},
		{"pxe_edge_nbd_overlay_bytes", "Copy-on-write data held for the attached NBD clients, by export.", func(e *sum) int64 { return e.overlay }},
	} {
		p.head(m.name, "gauge", m.help)
		if len(names) == 0 {
			p.sample(m.name, 0, "export", "")
		}
		for _, n := range names {
			p.sample(m.name, m.v(by[n]), "export", n)
		}
	}
}

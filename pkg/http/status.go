package httpd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// statusJSON is the body of GET /api/status.
type statusJSON struct {
	Version    string    `json:"version,omitempty"`
	Time       time.Time `json:"time"`
	Mode       string    `json:"mode,omitempty"`        // configured: full, proxy, auto
	ActiveMode string    `json:"active_mode,omitempty"` // what runs (auto: what it chose)
	Interface  string    `json:"interface,omitempty"`
	Carrier    *bool     `json:"carrier,omitempty"`
	Pool       struct {
		Size int `json:"size"`
		Used int `json:"used"`
	} `json:"pool"`
	Leases []Lease `json:"leases"`
	// DHCPReceived counts the DHCP messages the server received, by type ("DISCOVER",
	// "REQUEST", …); absent when no DHCP server runs.
	DHCPReceived map[string]uint64 `json:"dhcp_received,omitempty"`
	// LeaseStore is the DHCP lease store's state; absent without one.
	LeaseStore *LeaseStoreHealth `json:"lease_store,omitempty"`
	// NBD lists the attached NBD clients; absent when no NBD server runs.
	NBD           []NBDClient `json:"nbd,omitempty"`
	EventsDropped uint64      `json:"events_dropped"`
	snapshot
}

func (s *Server) status(withRecent bool) statusJSON {
	st := statusJSON{Version: s.cfg.Version, Time: time.Now(), Leases: []Lease{}, snapshot: s.track.snapshot(withRecent)}
	if s.cfg.Clients != nil {
		d := s.cfg.Clients.Status()
		st.Mode, st.ActiveMode, st.Interface = d.Mode, d.ActiveMode, d.Interface
		st.Carrier = &d.Carrier
		st.Pool.Size, st.Pool.Used = d.PoolSize, d.PoolUsed
		if d.Leases != nil {
			st.Leases = d.Leases
		}
		if len(d.DHCPReceived) > 0 {
			st.DHCPReceived = d.DHCPReceived
		}
		st.LeaseStore = d.LeaseStore
		if d.NBDOn {
			st.NBD = d.NBD
			if st.NBD == nil {
				st.NBD = []NBDClient{} // present and empty: a server runs with no client
			}
		}
	} else if c := s.track.counters(); c.modeSeen || c.link {
		// Without the daemon's view, fall back to what the bus said.
		st.Mode, st.ActiveMode = c.mode, c.active
		if c.link {
			st.Carrier = &c.carrier
		}
	}
	st.EventsDropped = s.cfg.Events.Dropped()
	return st
}

func (s *Server) serveStatus(w *respWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	body, err := json.Marshal(s.status(true))
	if err != nil {
		s.log.Error("http: status json", "err", err)
		httpError(w, http.StatusInternalServerError, "")
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// snapshotEvery bounds how often an event stream sends a full snapshot.
const snapshotEvery = 250 * time.Millisecond

// serveEvents streams server-sent events: "snapshot" (the dashboard state, at most every
// 250 ms and only after a change) and "event" (each bus event as JSON). A keep-alive
// comment every 15 s keeps proxies and phones from closing an idle stream.
func (s *Server) serveEvents(w *respWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		httpError(w, http.StatusMethodNotAllowed, "")
		return
	}
	ch, cancel, ok := s.track.listen()
	if !ok {
		w.Header().Set("Retry-After", "10")
		httpError(w, http.StatusServiceUnavailable, "too many event streams")
		return
	}
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	send := func(name string, v any) bool {
		buf.Reset()
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteString("\ndata: ")
		if err := json.NewEncoder(&buf).Encode(v); err != nil { // Encode adds the newline
			return false
		}
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	if !send("snapshot", s.status(false)) {
		return
	}
	tick := time.NewTicker(snapshotEvery)
	defer tick.Stop()
	lastWrite := time.Now()
	dirty := false
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case e := <-ch:
			if !send("event", e) {
				return
			}
			dirty, lastWrite = true, time.Now()
		case <-tick.C:
			switch {
			case dirty:
				if !send("snapshot", s.status(false)) {
					return
				}
				dirty, lastWrite = false, time.Now()
			case time.Since(lastWrite) > 15*time.Second:
				if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
					return
				}
				w.Flush()
				lastWrite = time.Now()
			}
		}
	}
}

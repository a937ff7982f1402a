package httpd

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Bounds of the dashboard state: a lab switch has tens of machines, a busy one a few
// hundred; anything beyond is evicted oldest first so memory stays fixed.
const (
	maxClients   = 256
	maxTransfers = 256
	maxRecent    = 100
	subBuffer    = 1024 // bus subscription: room for bursts of DHCP/TFTP events (~200 KB)
	maxListeners = 8    // concurrent /api/events streams
)

// xferView is one transfer in progress.
type xferView struct {
	ID      uint64    `json:"id"`
	Proto   string    `json:"proto"`
	Client  string    `json:"client"`
	MAC     string    `json:"mac,omitempty"`
	File    string    `json:"file"`
	Bytes   int64     `json:"bytes"`
	Total   int64     `json:"total"`
	Started time.Time `json:"started"`
	Rate    float64   `json:"rate"` // bytes per second since start
}

// clientView is one machine as the dashboard shows it: where it is in the boot sequence
// DHCP → TFTP → HTTP → done, and its current (or last) transfer.
type clientView struct {
	Key      string    `json:"key"`
	MAC      string    `json:"mac,omitempty"`
	IP       string    `json:"ip,omitempty"`
	Stage    string    `json:"stage"` // "dhcp", "tftp", "http", "done", "failed"
	Detail   string    `json:"detail,omitempty"`
	Proto    string    `json:"proto,omitempty"`
	File     string    `json:"file,omitempty"`
	Bytes    int64     `json:"bytes"`
	Total    int64     `json:"total"`
	Files    int       `json:"files"` // transfers completed
	XferID   uint64    `json:"xfer_id,omitempty"`
	Updated  time.Time `json:"updated"`
	Hostname string    `json:"hostname,omitempty"`
	Arch     string    `json:"arch,omitempty"`
	// Chain is the boot chain the last DHCP answer started: "ipxe", or "shim" (Secure Boot:
	// shim → signed GRUB); "" when the decision named none.
	Chain string `json:"chain,omitempty"`
	// Saw lists the stages this client went through, in order ("dhcp", "tftp", "http").
	Saw []string `json:"saw"`
}

func (c *clientView) saw(stage string) {
	if !slices.Contains(c.Saw, stage) && len(c.Saw) < 8 {
		c.Saw = append(c.Saw, stage)
	}
}

// counters are totals derived from the event stream for /metrics.
type counters struct {
	dhcpReplies   map[string]uint64
	tftpDone      uint64
	tftpFailed    uint64
	tftpBytes     uint64
	tftpRetrans   uint64
	tftpStarted   uint64
	httpDone      uint64
	httpFailed    uint64
	mode, active  string
	modeSeen      bool
	carrier, link bool
}

// tracker folds the event bus into the dashboard state. It owns one bus subscription and
// fans applied events out to the /api/events streams, so a stream never shows an event the
// snapshot does not yet include.
type tracker struct {
	bus     *events.Bus
	clients Clients

	mu        sync.Mutex
	xfers     map[uint64]*xferView
	cl        map[string]*clientView
	ipToMAC   map[netip.Addr]string
	recent    []events.Event // ring, oldest first once full
	recentPos int
	c         counters
	listeners map[chan events.Event]struct{}
}

func newTracker(bus *events.Bus, clients Clients) *tracker {
	return &tracker{
		bus: bus, clients: clients,
		xfers:     make(map[uint64]*xferView),
		cl:        make(map[string]*clientView),
		ipToMAC:   make(map[netip.Addr]string),
		c:         counters{dhcpReplies: make(map[string]uint64)},
		listeners: make(map[chan events.Event]struct{}),
	}
}

// run subscribes and applies events until the returned stop is called.
func (t *tracker) run() (stop func()) {
	if t.bus == nil {
		return func() {}
	}
	ch, cancel := t.bus.Subscribe(subBuffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			t.apply(e)
		}
	}()
	return func() { cancel(); <-done }
}

// listen registers an event stream; ok is false when maxListeners are open.
func (t *tracker) listen() (ch chan events.Event, cancel func(), ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.listeners) >= maxListeners {
		return nil, nil, false
	}
	ch = make(chan events.Event, 256)
	t.listeners[ch] = struct{}{}
	return ch, func() {
		t.mu.Lock()
		delete(t.listeners, ch)
		t.mu.Unlock()
	}, true
}

var knownReplies = []string{"OFFER", "ACK", "NAK", "PROXY-OFFER", "PROXY-ACK"}

func (t *tracker) apply(e events.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.recent) < maxRecent {
		t.recent = append(t.recent, e)
	} else {
		t.recent[t.recentPos] = e
		t.recentPos = (t.recentPos + 1) % maxRecent
	}
	switch e.Kind {
	case events.DHCP:
		msg := strings.ToUpper(e.Msg)
		if !slices.Contains(knownReplies, msg) {
			msg = "OTHER" // keep the label set fixed
		}
		t.c.dhcpReplies[msg]++
		ip := e.Client.Addr()
		if e.MAC != "" && ip.IsValid() && !ip.IsUnspecified() {
			t.rememberIP(ip, e.MAC)
		}
		c := t.client(e.MAC, ip, e.Time)
		if c != nil {
			c.Stage, c.Detail = "dhcp", e.Msg
			c.saw("dhcp")
			if ip.IsValid() && !ip.IsUnspecified() {
				c.Detail += " " + ip.String()
			}
			c.Proto, c.File, c.Bytes, c.Total, c.XferID = "dhcp", "", 0, 0, 0
			if e.Machine.Chain != "" {
				c.Chain = e.Machine.Chain
			}
		}
	case events.LeaseChanged:
		if ip := e.Client.Addr(); e.MAC != "" && ip.IsValid() && !ip.IsUnspecified() {
			t.rememberIP(ip, e.MAC)
		}
	case events.ModeChanged:
		t.c.modeSeen = true
		m := e.Msg
		if from, to, ok := strings.Cut(m, "→"); ok {
			t.c.mode, t.c.active = from, to
		} else if m == "paused" {
			t.c.active = m
		} else {
			t.c.mode, t.c.active = m, m
		}
	case events.LinkChanged:
		t.c.link = true
		t.c.carrier = strings.Contains(strings.ToLower(e.Msg), "up") || e.Msg == "carrier"
	case events.TransferStarted:
		if len(t.xfers) >= maxTransfers {
			t.evictOldestXfer()
		}
		x := &xferView{ID: e.ID, Proto: e.Proto, Client: e.Client.String(), MAC: e.MAC, File: e.File, Total: e.Total, Started: e.Time}
		t.xfers[e.ID] = x
		if e.Proto == "tftp" {
			t.c.tftpStarted++
		}
		t.transferClient(e, x)
	case events.TransferProgress:
		if x := t.xfers[e.ID]; x != nil {
			x.Bytes = e.Bytes
			if e.Total > 0 {
				x.Total = e.Total
			}
			if d := e.Time.Sub(x.Started).Seconds(); d > 0 {
				x.Rate = float64(x.Bytes) / d
			}
			t.transferClient(e, x)
		}
	case events.TransferDone, events.TransferFailed:
		x := t.xfers[e.ID]
		delete(t.xfers, e.ID)
		failed := e.Kind == events.TransferFailed
		switch e.Proto {
		case "tftp":
			if failed {
				t.c.tftpFailed++
			} else {
				t.c.tftpDone++
			}
			t.c.tftpBytes += uint64(max(e.Bytes, 0))
			t.c.tftpRetrans += uint64(max(e.Retrans, 0))
		case "http":
			if failed {
				t.c.httpFailed++
			} else {
				t.c.httpDone++
			}
		}
		if x == nil {
			x = &xferView{ID: e.ID, Proto: e.Proto, Client: e.Client.String(), MAC: e.MAC, File: e.File, Total: e.Total}
		}
		x.Bytes = e.Bytes
		if c := t.transferClient(e, x); c != nil {
			c.XferID = 0
			if failed {
				c.Stage, c.Detail = "failed", e.Err
			} else {
				c.Stage, c.Detail = "done", ""
				c.Files++
				if c.Total == 0 {
					c.Total = e.Bytes
				}
			}
		}
	}
	for ch := range t.listeners {
		select {
		case ch <- e:
		default: // a slow browser loses events; the next snapshot catches it up
		}
	}
}

func (t *tracker) rememberIP(ip netip.Addr, mac string) {
	if _, ok := t.ipToMAC[ip]; !ok && len(t.ipToMAC) >= maxClients*2 {
		clear(t.ipToMAC) // crude but bounded; DHCP events refill it
	}
	t.ipToMAC[ip] = mac
	// A row created from a transfer before the MAC was known joins the MAC's row.
	if c, ok := t.cl["ip:"+ip.String()]; ok {
		delete(t.cl, "ip:"+ip.String())
		if _, exists := t.cl[mac]; !exists {
			c.Key, c.MAC = mac, mac
			t.cl[mac] = c
		}
	}
}

func (t *tracker) transferClient(e events.Event, x *xferView) *clientView {
	mac := e.MAC
	if mac == "" {
		mac = x.MAC
	}
	c := t.client(mac, e.Client.Addr(), e.Time)
	if c == nil {
		return nil
	}
	c.Stage, c.Proto, c.File, c.Bytes, c.Total, c.XferID, c.Detail = e.Proto, e.Proto, e.File, x.Bytes, x.Total, e.ID, ""
	c.saw(e.Proto)
	if x.MAC == "" {
		x.MAC = c.MAC
	}
	return c
}

// client finds or creates the row for a machine, keyed by MAC when known, else by IP.
func (t *tracker) client(mac string, ip netip.Addr, now time.Time) *clientView {
	ip = ip.Unmap()
	hasIP := ip.IsValid() && !ip.IsUnspecified()
	if mac == "" && hasIP {
		mac = t.ipToMAC[ip]
		if mac == "" && t.clients != nil {
			if ci, ok := t.clients.Client(ip); ok && ci.MAC != "" {
				mac = ci.MAC
				t.rememberIP(ip, mac)
			}
		}
	}
	var key string
	switch {
	case mac != "":
		key = mac
	case hasIP:
		key = "ip:" + ip.String()
	default:
		return nil
	}
	c := t.cl[key]
	if c == nil {
		if len(t.cl) >= maxClients {
			t.evictOldestClient()
		}
		c = &clientView{Key: key, MAC: mac}
		t.cl[key] = c
	}
	if hasIP {
		c.IP = ip.String()
	}
	if t.clients != nil && hasIP && (c.Hostname == "" || c.Arch == "") {
		if ci, ok := t.clients.Client(ip); ok {
			c.Hostname, c.Arch = ci.Hostname, ci.ArchName
		}
	}
	if now.IsZero() {
		now = time.Now()
	}
	c.Updated = now
	return c
}

func (t *tracker) evictOldestClient() {
	var oldest *clientView
	for _, c := range t.cl {
		if oldest == nil || c.Updated.Before(oldest.Updated) {
			oldest = c
		}
	}
	if oldest != nil {
		delete(t.cl, oldest.Key)
	}
}

func (t *tracker) evictOldestXfer() {
	var oldest *xferView
	for _, x := range t.xfers {
		if oldest == nil || x.Started.Before(oldest.Started) {
			oldest = x
		}
	}
	if oldest != nil {
		delete(t.xfers, oldest.ID)
	}
}

// snapshot is the dashboard's view, newest clients first.
type snapshot struct {
	Clients   []clientView   `json:"clients"`
	Transfers []xferView     `json:"transfers"`
	Recent    []events.Event `json:"recent"`
}

func (t *tracker) snapshot(withRecent bool) snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := snapshot{Clients: make([]clientView, 0, len(t.cl)), Transfers: make([]xferView, 0, len(t.xfers))}
	for _, c := range t.cl {
		cv := *c
		cv.Saw = slices.Clone(c.Saw)
		s.Clients = append(s.Clients, cv)
	}
	sort.Slice(s.Clients, func(i, j int) bool { return s.Clients[j].Updated.Before(s.Clients[i].Updated) })
	for _, x := range t.xfers {
		s.Transfers = append(s.Transfers, *x)
	}
	sort.Slice(s.Transfers, func(i, j int) bool { return s.Transfers[i].Started.Before(s.Transfers[j].Started) })
	if withRecent {
		s.Recent = make([]events.Event, 0, len(t.recent))
		s.Recent = append(s.Recent, t.recent[t.recentPos:]...)
		s.Recent = append(s.Recent, t.recent[:t.recentPos]...)
	}
	return s
}

func (t *tracker) counters() counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.c
	c.dhcpReplies = make(map[string]uint64, len(t.c.dhcpReplies))
	for k, v := range t.c.dhcpReplies {
		c.dhcpReplies[k] = v
	}
	return c
}

func (t *tracker) activeTransfers(proto string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, x := range t.xfers {
		if x.Proto == proto {
			n++
		}
	}
	return n
}

package httpd

import (
	"net/netip"
	"time"
)

// Clients is what the daemon tells the HTTP server about DHCP clients and its own state. The
// daemon implements it from the lease table and the DHCP service; pkg/http never imports
// those. Both methods are called from request goroutines concurrently and must be cheap
// (no disk I/O): they run once per script render, status request or metrics scrape.
type Clients interface {
	// Client returns the facts known about the client that owns ip (the remote address of
	// an HTTP request), or ok = false when the daemon knows nothing about it — for example
	// in proxy mode, where another server handed out the address.
	Client(ip netip.Addr) (info ClientInfo, ok bool)
	// Status returns a snapshot of the daemon for /api/status and /metrics.
	Status() DaemonStatus
}

// ClientInfo holds what the DHCP side learned about one client. Fields that are unknown
// stay zero; templates see them as empty strings.
type ClientInfo struct {
	MAC       string     // "aa:bb:cc:dd:ee:ff"
	IP        netip.Addr // address leased or seen in ciaddr
	Arch      uint16     // option 93 client architecture (first value), 0 = x86 BIOS
	ArchName  string     // human label for Arch, e.g. "x86-bios", "x64-uefi", "arm64-uefi"
	Platform  string     // iPXE ${platform}: "pcbios", "efi", …
	BuildArch string     // iPXE ${buildarch}: "i386", "x86_64", "arm64", …
	Hostname  string     // option 12 or the reservation's hostname
	UUID      string     // option 97 as a canonical UUID string
	Kind      string     // pkg/boot's human label for the boot decision ("ipxe-script", "pi", …)
	Chain     string     // the boot chain its DHCP answer gave: "ipxe", or "shim" (Secure Boot)
	// Reservation holds the fields of the client's static lease entry (PyPXE static
	// file), keyed by the file's own names; nil when the client has none.
	Reservation map[string]string
}

// DaemonStatus is the daemon-wide view shown by /api/status and exported by /metrics.
type DaemonStatus struct {
	Mode       string // configured DHCP mode: "full", "proxy" or "auto"
	ActiveMode string // what runs now: "full", "proxy", "paused" (auto: what it chose)
	Interface  string // interface the DHCP service listens on
	Carrier    bool   // whether that interface has carrier
	Leases     []Lease
	PoolSize   int // addresses in the dynamic pool (0 in proxy mode)
	PoolUsed   int // addresses of the pool currently leased or offered
	// DHCPReceived counts DHCP messages received, by message type ("DISCOVER",
	// "REQUEST", "INFORM", "RELEASE", "DECLINE"). Replies are counted from the event bus.
	DHCPReceived map[string]uint64
	// LeaseStore is the DHCP lease store's state; nil without a store (proxy mode, no DHCP).
	LeaseStore *LeaseStoreHealth
	// NBD lists the clients attached to the NBD server; NBDOn says whether one runs.
	NBD   []NBDClient
	NBDOn bool
}

// LeaseStoreHealth says whether the DHCP lease store can write (a full SD card makes it
// degraded until space returns) and counts what that cost.
type LeaseStoreHealth struct {
	Degraded          bool      `json:"degraded"`
	Err               string    `json:"err,omitempty"`
	Since             time.Time `json:"since,omitzero"`
	Refused           uint64    `json:"refused"`             // commits refused (no ACK sent)
	Failures          uint64    `json:"write_failures"`      // failed writes or syncs
	Recoveries        uint64    `json:"recoveries"`          // degraded periods ended by a rewrite
	NewClientsWaiting uint64    `json:"new_clients_refused"` // DISCOVERs of new clients left unanswered meanwhile
}

// NBDClient is one client attached to the NBD server, as the dashboard shows it.
type NBDClient struct {
	Remote       netip.AddrPort `json:"remote"`
	MAC          string         `json:"mac,omitempty"`
	Export       string         `json:"export"`
	BytesRead    int64          `json:"bytes_read"`
	BytesWritten int64          `json:"bytes_written"`
	OverlayBytes int64          `json:"overlay_bytes"` // the client's copy-on-write data
	Since        time.Time      `json:"since"`
}

// Lease is one row of the lease table as the dashboard shows it.
type Lease struct {
	MAC      string     `json:"mac"`
	IP       netip.Addr `json:"ip"`
	Hostname string     `json:"hostname,omitempty"`
	Arch     string     `json:"arch,omitempty"`
	State    string     `json:"state,omitempty"` // "offered", "bound", "released", "expired"
	Static   bool       `json:"static,omitempty"`
	Expires  time.Time  `json:"expires,omitzero"`
}

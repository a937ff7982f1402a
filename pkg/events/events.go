// Package events is a small in-process event stream. Services (TFTP, HTTP, DHCP) publish
// what happens to clients; observers (logs, metrics, the dashboard) subscribe. Publishing
// never blocks the data path: a subscriber that falls behind loses events and the loss is
// counted, so a slow browser can never slow a transfer.
package events

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what an Event reports.
type Kind uint8

// Event kinds.
const (
	TransferStarted  Kind = iota + 1 // a TFTP or HTTP transfer began
	TransferProgress                 // bytes moved on a running transfer (rate-limited by the sender)
	TransferDone                     // a transfer completed
	TransferFailed                   // a transfer ended early (client error, timeout, abort)
	DHCP                             // a DHCP message was answered (Msg holds the reply type)
	LeaseChanged                     // a lease was granted, renewed, released or expired
	ModeChanged                      // the DHCP mode changed (auto detection, carrier)
	LinkChanged                      // carrier came or went
)

var kindNames = [...]string{
	TransferStarted:  "transfer-started",
	TransferProgress: "transfer-progress",
	TransferDone:     "transfer-done",
	TransferFailed:   "transfer-failed",
	DHCP:             "dhcp",
	LeaseChanged:     "lease",
	ModeChanged:      "mode",
	LinkChanged:      "link",
}

// String returns the kind's stable name, used in JSON and logs.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText makes kinds appear by name in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one thing that happened. Fields that do not apply stay zero.
type Event struct {
	Time     time.Time      `json:"time"`
	Kind     Kind           `json:"kind"`
	Proto    string         `json:"proto,omitempty"` // "tftp", "http", "dhcp"
	ID       uint64         `json:"id,omitempty"`    // transfer id, stable across a transfer's events
	Client   netip.AddrPort `json:"client,omitzero"`
	MAC      string         `json:"mac,omitempty"` // aa:bb:cc:dd:ee:ff when known
	File     string         `json:"file,omitempty"`
	Bytes    int64          `json:"bytes,omitempty"` // bytes done so far (or in all, when finished)
	Total    int64          `json:"total,omitempty"` // expected size; 0 when unknown
	Duration time.Duration  `json:"duration,omitempty"`
	Options  string         `json:"options,omitempty"` // negotiated options, e.g. "blksize=1468 windowsize=4"
	Msg      string         `json:"msg,omitempty"`     // message type, mode, or a short description
	Err      string         `json:"err,omitempty"`
	Retrans  int            `json:"retransmits,omitempty"`
	Machine  Machine        `json:"machine,omitzero"` // DHCP replies: what the request told about the client
}

// Machine is what a DHCP request told about the client, as the boot policy read it for the
// reply (one decision per packet): observers learn a client's facts from the DHCP event
// instead of deciding again.
type Machine struct {
	Kind      string `json:"kind,omitempty"` // the boot policy's label: "bios", "uefi-x64", "ipxe", "rpi4", …
	Arch      uint16 `json:"arch"`           // option 93 architecture, when ArchKnown
	ArchKnown bool   `json:"arch_known,omitempty"`
	Platform  string `json:"platform,omitempty"`  // iPXE's ${platform}: "pcbios", "efi", …
	BuildArch string `json:"buildarch,omitempty"` // iPXE's ${buildarch}: "i386", "x86_64", "arm64", …
	UUID      string `json:"uuid,omitempty"`      // option 97 machine id, 8-4-4-4-12
	Chain     string `json:"chain,omitempty"`     // the boot chain given: "ipxe" or "shim" (Secure Boot: shim → signed GRUB)
}

// Bus fans events out to subscribers. The zero value is not usable; a nil *Bus is, and
// drops everything, so services need no "is anyone listening" checks.
type Bus struct {
	mu      sync.RWMutex
	subs    map[*sub]struct{}
	nextID  atomic.Uint64
	dropped atomic.Uint64
}

type sub struct {
	ch chan Event
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*sub]struct{})} }

// NextID returns a fresh transfer id. A nil bus still hands out ids (from a shared counter).
func (b *Bus) NextID() uint64 {
	if b == nil {
		return globalID.Add(1)
	}
	return b.nextID.Add(1)
}

var globalID atomic.Uint64

// Publish delivers e to every subscriber that has room; it never blocks. A zero Time is set
// to now.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.RLock()
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			b.dropped.Add(1)
		}
	}
	b.mu.RUnlock()
}

// Subscribe returns a channel of events buffered to size and a cancel function that
// unsubscribes and closes the channel. Call cancel exactly once.
func (b *Bus) Subscribe(size int) (<-chan Event, func()) {
	if size < 1 {
		size = 1
	}
	s := &sub{ch: make(chan Event, size)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
			close(s.ch)
		})
	}
}

// Dropped returns how many events subscribers missed because their buffer was full.
func (b *Bus) Dropped() uint64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}

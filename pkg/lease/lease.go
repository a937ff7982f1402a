package lease

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"
)

// State is where a lease is in its life.
type State uint8

// Lease states.
const (
	Offered  State = iota + 1 // offered in a DHCPOFFER, not yet requested
	Bound                     // ACKed to the client
	Declined                  // the address was declined (DHCPDECLINE) or found in use; quarantined until Expiry
	Released                  // the client released it; the address stays linked to the client for reuse
)

var stateNames = [...]string{Offered: "offered", Bound: "bound", Declined: "declined", Released: "released"}

// String returns the state's name as written in the journal.
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "unknown"
}

// Lease is one address held by one client. The store keeps at most one lease per address
// and at most one non-declined lease per MAC: committing a lease for a MAC that held another
// address drops the old one, and committing an address that another MAC held replaces it.
//
// The store copies what it is given, so callers may reuse their buffers, and what it
// returns is the caller's.
type Lease struct {
	MAC      net.HardwareAddr // client hardware address (chaddr), 1..16 bytes; may be empty only when Declined
	IP       netip.Addr       // IPv4 address
	Expiry   time.Time        // end of the lease or quarantine, stored to the second; zero = never
	Hostname string           // option 12 as the client sent it (≤ 255 bytes)
	ClientID []byte           // option 61 when the client sent one (≤ 255 bytes)
	State    State
}

// Errors returned by the store. I/O failures are wrapped with the operation and path.
var (
	ErrInvalid  = errors.New("lease: invalid lease")
	ErrNotFound = errors.New("lease: no such lease")
	ErrClosed   = errors.New("lease: store closed")
	// ErrFailed wraps a write or sync failure. After one the store refuses changes: the
	// kernel may already have dropped the unsynced pages, so retrying cannot promise
	// durability. Reopen the store to recover.
	ErrFailed = errors.New("lease: store failed")
	// ErrLocked means another process has the state directory open.
	ErrLocked = errors.New("lease: state directory in use by another process")
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// FlushInterval bounds how long a Touch may wait for disk; default 30 s.
	FlushInterval time.Duration
	// MaxPendingTouches flushes touches early once this many are waiting; default 256.
	MaxPendingTouches int
	// CompactAfter is the number of journal records after which the table is written as a
	// new snapshot and the journal restarted; it is raised to the table size when that is
	// larger, so the journal never grows past about twice the snapshot. Default 4096.
	CompactAfter int
	// Sync makes a file's written data durable. Default: fdatasync on Linux, fsync elsewhere.
	// Tests use it to count or fail syncs.
	Sync func(*os.File) error
	// Logger receives warnings (damaged files, compaction failures). Default: discard.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 30 * time.Second
	}
	if o.MaxPendingTouches <= 0 {
		o.MaxPendingTouches = 256
	}
	if o.CompactAfter <= 0 {
		o.CompactAfter = 4096
	}
	if o.Sync == nil {
		o.Sync = datasync
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// LoadReport says what Open found on disk and what it had to skip.
type LoadReport struct {
	Leases          int      // leases in the table after loading
	SnapshotRecords int      // lease records read from the snapshot
	JournalRecords  int      // records replayed from the journal
	Skipped         int      // damaged or unreadable lines skipped, in both files
	Problems        []string // one line per skipped record or file problem (first 100)
	TornTail        bool     // the journal ended in a partial line (a write cut short)
	Preserved       []string // damaged files kept aside for inspection (*.damaged)
}

// Damaged reports whether anything on disk had to be skipped.
func (r *LoadReport) Damaged() bool { return r.Skipped > 0 || r.TornTail || len(r.Problems) > 0 }

// Stats are running counters of a Store, for metrics and benchmarks.
type Stats struct {
	Commits     uint64 // durable records requested (Commit, Release, Decline, Delete)
	Touches     uint64 // lazy expiry updates
	Batches     uint64 // journal writes
	Syncs       uint64 // fdatasync/fsync calls on journal, snapshot and directory
	Compactions uint64 // snapshots written
	Bytes       uint64 // bytes appended to the journal
}

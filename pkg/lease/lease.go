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
	// ErrFailed wraps every write or sync failure: the change was not made (it is taken back
	// from memory before the call returns) and nothing acknowledged earlier is lost. The store
	// is then degraded: it refuses commits until a retry (with backoff, on its own or on a
	// later commit) has rewritten its files; see [Store.Health].
	ErrFailed = errors.New("lease: store failed")
	// ErrNoSpace is wrapped together with ErrFailed when the failure was a full filesystem
	// or quota (ENOSPC, EDQUOT): the store recovers once space is freed.
	ErrNoSpace = errors.New("lease: no space left in the state directory")
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
	// RetryInterval is the longest wait between two attempts to rewrite the files after a
	// write failed; the first retry comes after RetryInterval/16 and the wait doubles.
	// Default 5 s.
	RetryInterval time.Duration
	// Logger receives warnings (damaged files, compaction failures, write failures and
	// recovery). Default: discard.
	Logger *slog.Logger

	// storage changes the files; nil means the operating system (tests inject faults).
	storage storage
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
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.storage == nil {
		o.storage = osStorage{syncFile: o.Sync}
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
	Failures    uint64 // failed writes: journal appends, compactions and recovery attempts
	Refused     uint64 // durable changes that returned ErrFailed (failed with a write or refused while degraded)
	Recoveries  uint64 // degraded periods ended by a successful rewrite
}

// Health says whether the store can make changes durable now. While Degraded, commits
// return an error wrapping ErrFailed (and ErrNoSpace when the disk or quota is full), reads
// and Touch keep working from memory, and the store retries on its own.
type Health struct {
	Degraded  bool      // the last write failed and no retry has succeeded since
	Err       error     // the failure (wraps ErrFailed, maybe ErrNoSpace); nil when healthy
	Since     time.Time // when the degraded period began; zero when healthy
	NextRetry time.Time // earliest next attempt; commits before it are refused at once
	Refused   uint64    // durable changes refused in this degraded period
}

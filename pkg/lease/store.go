package lease

import (
	"context"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// File names inside the state directory.
const (
	snapName    = "leases.snap"
	journalName = "leases.log"
	lockName    = "lock"
)

// Store is the lease table of one state directory. Its methods are safe for concurrent use.
type Store struct {
	dir  string
	opts Options

	mu     sync.RWMutex
	tab    table
	pend   []byte // encoded records not yet handed to the writer
	npend  int    // records in pend
	ntouch int    // of which touches
	cur    *batch // what the records in pend will be written with
	undo   []undo // takes the lease/del records in pend back out of tab if their write fails
	closed bool
	stats  Stats

	// Degraded state: fault is the last write failure, nil when the store is healthy.
	fault   error
	since   time.Time     // start of the degraded period
	retryAt time.Time     // commits before it are refused without touching the disk
	backoff time.Duration // current wait between attempts
	refused uint64        // changes refused in this degraded period

	kick chan struct{} // wakes the writer; capacity 1
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the writer has exited

	// owned by the writer goroutine (and Open before it starts)
	journal   *os.File // nil while degraded: the next write is a new snapshot and journal
	joff      int64    // journal size at the last successful sync
	gen       uint64   // generation of the current journal
	jrecs     int      // records in the current journal
	spare     []byte
	spareUndo []undo
	lock      *os.File
}

// batch is one journal write: everyone whose record is in it waits on done.
type batch struct {
	done chan struct{}
	err  error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// Open loads the store in dir, creating the directory if needed. Damaged files do not make
// it fail: what could not be read is described in the report (and logged). Nor does a
// directory it cannot write to (a full disk): the store then opens degraded (see Health),
// serving what it read, and writes nothing until a retry succeeds. The store is locked
// against other processes until Close.
func Open(dir string, opts Options) (*Store, LoadReport, error) {
	opts.fill()
	var rep LoadReport
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, rep, err
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, rep, err
	}
	s := &Store{
		dir:  dir,
		opts: opts,
		tab:  newTable(),
		cur:  newBatch(),
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		lock: lock,
	}
	if err := s.load(&rep); err != nil {
		lock.Close()
		return nil, rep, err
	}
	rep.Leases = len(s.tab.byIP)
	if rep.Damaged() {
		opts.Logger.Warn("lease store: damaged state loaded", "dir", dir, "leases", rep.Leases,
			"skipped", rep.Skipped, "torn_tail", rep.TornTail, "problems", rep.Problems, "kept", rep.Preserved)
	}
	if s.fault != nil {
		s.stats.Failures++
		opts.Logger.Error("lease store: cannot write the state directory; serving the leases read, refusing new ones until a retry succeeds",
			"dir", dir, "leases", rep.Leases, "err", s.fault)
	}
	go s.writer()
	return s, rep, nil
}

// Get returns the client's lease (any state but Declined).
func (s *Store) Get(mac net.HardwareAddr) (Lease, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ip, ok := s.tab.byMAC[string(mac)]
	if !ok {
		return Lease{}, false
	}
	e := s.tab.byIP[ip]
	return e.lease(), true
}

// ByIP returns the lease on an address, whatever its state.
func (s *Store) ByIP(ip netip.Addr) (Lease, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !ip.Is4() {
		return Lease{}, false
	}
	e, ok := s.tab.byIP[u32(ip)]
	if !ok {
		return Lease{}, false
	}
	return e.lease(), true
}

// Len returns the number of leases (all states).
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tab.byIP)
}

// All returns a copy of every lease, sorted by address.
func (s *Store) All() []Lease {
	s.mu.RLock()
	out := make([]Lease, 0, len(s.tab.byIP))
	for _, e := range s.tab.byIP {
		out = append(out, e.lease())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// Expired yields the leases (any state) whose expiry is before now, oldest first: the
// order in which an exhausted pool should reclaim them. It works on a copy taken when
// iteration starts, so the loop body may call the store. Cost is linear in the table.
func (s *Store) Expired(now time.Time) iter.Seq[Lease] {
	return func(yield func(Lease) bool) {
		s.mu.RLock()
		var out []Lease
		for _, e := range s.tab.byIP {
			if e.exp != noExpiry && time.Unix(e.exp, 0).Before(now) {
				out = append(out, e.lease())
			}
		}
		s.mu.RUnlock()
		sort.Slice(out, func(i, j int) bool {
			if c := out[i].Expiry.Compare(out[j].Expiry); c != 0 {
				return c < 0
			}
			return out[i].IP.Less(out[j].IP)
		})
		for _, l := range out {
			if !yield(l) {
				return
			}
		}
	}
}

// Commit stores l and returns once it is durable on disk. It replaces any lease on l.IP and,
// unless l is Declined, any other lease of l.MAC. Readers see the change at once; if the
// write fails it is taken back before Commit returns an error wrapping ErrFailed (and
// ErrNoSpace for a full disk), and while the store is degraded Commit returns such an error
// without writing until the next retry is due. Expiry is kept to the second. If ctx ends
// first Commit returns its error; the record may still become durable.
func (s *Store) Commit(ctx context.Context, l Lease) error {
	if err := validLease(&l); err != nil {
		return err
	}
	l.MAC = append(net.HardwareAddr(nil), l.MAC...)
	if len(l.ClientID) > 0 {
		l.ClientID = append([]byte(nil), l.ClientID...)
	} else {
		l.ClientID = nil
	}
	if len(l.MAC) == 0 {
		l.MAC = nil
	}
	l.Expiry = roundTime(l.Expiry)
	return s.durable(ctx, &record{op: opLease, lease: l})
}

// Release marks the client's lease Released (keeping its address linked to it for reuse)
// with expiry now, durably.
func (s *Store) Release(ctx context.Context, mac net.HardwareAddr, now time.Time) error {
	s.mu.RLock()
	ip, ok := s.tab.byMAC[string(mac)]
	var l Lease
	if ok {
		e := s.tab.byIP[ip]
		l = e.lease()
	}
	s.mu.RUnlock()
	if !ok {
		return ErrNotFound
	}
	l.State = Released
	l.Expiry = now
	return s.Commit(ctx, l)
}

// Decline quarantines ip until the given time, durably. mac, when known, names who declined.
func (s *Store) Decline(ctx context.Context, ip netip.Addr, mac net.HardwareAddr, until time.Time) error {
	return s.Commit(ctx, Lease{IP: ip, MAC: mac, Expiry: until, State: Declined})
}

// Delete forgets the lease on ip, durably. Deleting a free address is not an error.
func (s *Store) Delete(ctx context.Context, ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("%w: address %v is not IPv4", ErrInvalid, ip)
	}
	return s.durable(ctx, &record{op: opDel, lease: Lease{IP: ip}})
}

// Touch sets the expiry of the client's lease without waiting for the disk: the record is
// written with the next commit batch, or within Options.FlushInterval, or once
// Options.MaxPendingTouches are waiting. Use it for renewals that change nothing else. It
// works while the store is degraded too: the new expiry is kept in memory and written with
// the snapshot that ends the degraded period (or lost in a crash before that, which rolls
// the expiry back as a power cut would).
func (s *Store) Touch(mac net.HardwareAddr, expiry time.Time) error {
	expiry = roundTime(expiry)
	if !expiry.IsZero() && (expiry.Year() < 1 || expiry.Year() > 9999) {
		return fmt.Errorf("%w: expiry %v out of range", ErrInvalid, expiry)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	ip, ok := s.tab.byMAC[string(mac)]
	if !ok {
		s.mu.Unlock()
		return ErrNotFound
	}
	r := record{op: opTouch, lease: Lease{IP: addr4(ip), MAC: net.HardwareAddr(mac), Expiry: expiry}}
	s.tab.apply(&r)
	s.pend = appendRecord(s.pend, &r)
	s.npend++
	s.ntouch++
	s.stats.Touches++
	full := s.ntouch >= s.opts.MaxPendingTouches
	s.mu.Unlock()
	if full {
		s.wake()
	}
	return nil
}

// Stats returns the running counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Health says whether commits can be made durable now, and if not since when and why. The
// DHCP server uses it to log (rate-limited) and export a metric.
func (s *Store) Health() Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fault == nil {
		return Health{}
	}
	return Health{Degraded: true, Err: s.fault, Since: s.since, NextRetry: s.retryAt, Refused: s.refused}
}

// Degraded reports whether the store refuses commits because its last write failed, and
// that failure.
func (s *Store) Degraded() (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fault != nil, s.fault
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Close writes and syncs everything pending (touches included; a degraded store tries once
// more to write its table), stops the writer and releases the directory lock. It returns
// the store's failure if it is still degraded.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	var err error
	if s.journal != nil {
		err = s.journal.Close()
	}
	s.lock.Close()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fault != nil {
		return s.fault
	}
	return err
}

// durable queues r, applies it to the table and waits for its batch to be synced.
func (s *Store) durable(ctx context.Context, r *record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.fault != nil && time.Now().Before(s.retryAt) {
		err := s.fault
		s.stats.Refused++
		s.refused++
		s.mu.Unlock()
		return err
	}
	s.undo = s.tab.save(s.undo, r)
	s.tab.apply(r)
	s.pend = appendRecord(s.pend, r)
	s.npend++
	s.stats.Commits++
	b := s.cur
	s.mu.Unlock()
	s.wake()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// roundTime keeps what the journal can hold: whole seconds, UTC.
func roundTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Second).UTC()
}

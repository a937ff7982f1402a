package lease

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	snapComment    = "# pxe-edge lease snapshot. Fields (tab-separated): crc32c op ip mac state expiry-utc hostname client-id\n"
	journalComment = "# pxe-edge lease journal, replayed over leases.snap. Records: lease/touch/del; see pkg/lease doc\n"
)

// writer is the only goroutine that writes files after Open. It wakes on a commit, on the
// flush ticker (for touches) and on Close, and writes everything queued as one batch.
func (s *Store) writer() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.kick:
			s.flush(false)
		case <-tick.C:
			s.flush(true)
		case <-s.quit:
			s.flush(true)
			return
		}
	}
}

// flush writes the queued records as one batch and syncs it. Touch-only queues wait for
// force (ticker, Close) unless MaxPendingTouches of them have gathered.
func (s *Store) flush(force bool) {
	s.mu.Lock()
	if s.npend == 0 || (!force && s.npend == s.ntouch && s.ntouch < s.opts.MaxPendingTouches) {
		s.mu.Unlock()
		return
	}
	buf, b, n := s.pend, s.cur, s.npend
	s.pend, s.cur, s.npend, s.ntouch = s.spare[:0], newBatch(), 0, 0
	if s.err != nil {
		b.err = s.err
		s.spare = buf
		s.mu.Unlock()
		close(b.done)
		return
	}
	// The table now holds exactly the journal plus this batch, so a snapshot encoded here
	// covers this journal generation completely.
	var snap []byte
	if s.jrecs+n >= max(s.opts.CompactAfter, len(s.tab.byIP)) {
		snap = s.encodeSnapshot(s.gen)
	}
	s.mu.Unlock()

	_, err := s.journal.Write(buf)
	if err == nil {
		err = s.opts.Sync(s.journal)
	}
	s.jrecs += n
	s.spare = buf

	s.mu.Lock()
	s.stats.Batches++
	s.stats.Syncs++
	s.stats.Bytes += uint64(len(buf))
	if err != nil {
		s.err = fmt.Errorf("%w: journal %s: %w", ErrFailed, s.journal.Name(), err)
		b.err = s.err
	}
	s.mu.Unlock()
	close(b.done)
	if err != nil {
		s.opts.Logger.Error("lease store: journal write failed; refusing further changes", "err", err)
		s.wake() // fail whoever queued meanwhile
		return
	}
	if snap != nil {
		s.compact(snap)
	}
}

// encodeSnapshot renders the table, sorted by address so snapshots diff nicely; the caller
// holds s.mu.
func (s *Store) encodeSnapshot(gen uint64) []byte {
	ips := make([]uint32, 0, len(s.tab.byIP))
	for ip := range s.tab.byIP {
		ips = append(ips, ip)
	}
	slices.Sort(ips)
	out := make([]byte, 0, 64+len(ips)*96)
	out = append(out, snapComment...)
	out = appendRecord(out, &record{op: opSnapshot, n: gen})
	for _, ip := range ips {
		e := s.tab.byIP[ip]
		out = appendLease(out, addr4(e.ip), e.mac, e.state, e.expiry(), e.hostname, e.clientID)
	}
	return appendRecord(out, &record{op: opEnd, n: uint64(len(ips))})
}

// compact installs snap (which covers journal generation s.gen) and starts journal s.gen+1.
// A crash between the two renames leaves the new snapshot and the old journal, which load
// ignores because its generation is covered.
func (s *Store) compact(snap []byte) {
	f, renamed, err := s.writeAtomic(snapName, snap)
	if f != nil {
		f.Close()
	}
	if err != nil && !renamed {
		// The old snapshot and journal are intact; try again after another CompactAfter.
		s.jrecs = 0
		s.opts.Logger.Warn("lease store: compaction failed; journal kept", "err", err)
		return
	}
	s.countSyncs(2, true)
	// Once the new snapshot has been renamed into place it covers the current journal, so
	// further appends to that journal would be ignored on load: rotate, or stop.
	j, jerr := s.newJournal(s.gen + 1)
	if err == nil {
		err = jerr
	}
	if err != nil {
		if j != nil {
			j.Close()
		}
		s.mu.Lock()
		s.err = fmt.Errorf("%w: compaction: %w", ErrFailed, err)
		s.mu.Unlock()
		s.opts.Logger.Error("lease store: compaction failed after the snapshot was replaced; refusing further changes", "err", err)
		return
	}
	s.journal.Close()
	s.journal, s.gen, s.jrecs = j, s.gen+1, 0
}

// newJournal atomically creates an empty journal of generation gen and returns it open for
// appending.
func (s *Store) newJournal(gen uint64) (*os.File, error) {
	hdr := appendRecord([]byte(journalComment), &record{op: opJournal, n: gen})
	f, _, err := s.writeAtomic(journalName, hdr)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	s.countSyncs(2, false)
	return f, nil
}

func (s *Store) countSyncs(n uint64, compaction bool) {
	s.mu.Lock()
	s.stats.Syncs += n
	if compaction {
		s.stats.Compactions++
	}
	s.mu.Unlock()
}

// writeAtomic writes name.tmp, syncs it, renames it to name and syncs the directory. The
// returned file is open for appending. renamed reports whether the rename happened (then
// the new file may be what a reload sees, even if err is set by the directory sync); the
// file is returned whenever renamed is true.
func (s *Store) writeAtomic(name string, data []byte) (f *os.File, renamed bool, err error) {
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, false, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = s.opts.Sync(f)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, false, err
	}
	return f, true, s.syncDir()
}

func (s *Store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	err = s.opts.Sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", s.dir, err)
	}
	return nil
}

package lease

import (
	"bytes"
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

// flushReason says what woke the writer.
type flushReason uint8

const (
	flushKick  flushReason = iota // a commit, or MaxPendingTouches touches
	flushTick                     // FlushInterval passed
	flushRetry                    // degraded: the backoff ended
	flushClose                    // Close
)

// writer is the only goroutine that writes files after Open. It wakes on a commit, on the
// flush ticker (for touches), when a degraded store may retry, and on Close, and writes
// everything queued as one batch.
func (s *Store) writer() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var armed time.Time // the retryAt the timer is set for
	for {
		var retryC <-chan time.Time
		if s.journal == nil {
			s.mu.RLock()
			at := s.retryAt
			s.mu.RUnlock()
			if !at.Equal(armed) {
				retry.Reset(time.Until(at))
				armed = at
			}
			retryC = retry.C
		}
		select {
		case <-s.kick:
			s.flush(flushKick)
		case <-tick.C:
			s.flush(flushTick)
		case <-retryC:
			armed = time.Time{}
			s.flush(flushRetry)
		case <-s.quit:
			s.flush(flushClose)
			return
		}
	}
}

// pending is what the writer takes from the queue for one write.
type pending struct {
	buf    []byte
	b      *batch
	n      int    // records
	leases int    // of which lease/del records, each with a caller waiting
	undo   []undo // how to take the lease/del records back
}

// take empties the queue into p; the caller holds s.mu.
func (s *Store) take() pending {
	p := pending{buf: s.pend, b: s.cur, n: s.npend, leases: s.npend - s.ntouch, undo: s.undo}
	s.pend, s.cur, s.npend, s.ntouch = s.spare[:0], newBatch(), 0, 0
	s.undo, s.spareUndo = s.spareUndo[:0], nil
	return p
}

// recycle keeps p's buffers for the next batch; the caller holds s.mu.
func (s *Store) recycle(p *pending) {
	s.spare = p.buf[:0]
	clear(p.undo) // drop the strings they hold
	s.spareUndo = p.undo[:0]
}

// flush writes the queued records as one batch and syncs it. Touch-only queues wait for a
// tick or Close unless MaxPendingTouches of them have gathered.
func (s *Store) flush(why flushReason) {
	if s.journal == nil {
		s.retryWrite(why)
		return
	}
	s.mu.Lock()
	if s.npend == 0 || (why == flushKick && s.npend == s.ntouch && s.ntouch < s.opts.MaxPendingTouches) {
		s.mu.Unlock()
		return
	}
	p := s.take()
	// The table now holds exactly the journal plus this batch, so a snapshot encoded here
	// covers this journal generation completely.
	var snap []byte
	if s.jrecs+p.n >= max(s.opts.CompactAfter, len(s.tab.byIP)) {
		snap = s.encodeSnapshot(s.gen)
	}
	s.mu.Unlock()

	st := s.opts.storage
	_, err := st.write(s.journal, p.buf)
	if err == nil {
		err = st.sync(s.journal)
	}
	if err != nil {
		err = writeError("journal", err)
		s.dropJournal()
		s.takeBack(&p, err)
		return
	}
	s.joff += int64(len(p.buf))
	s.jrecs += p.n

	s.mu.Lock()
	s.stats.Batches++
	s.stats.Syncs++
	s.stats.Bytes += uint64(len(p.buf))
	b := p.b
	s.recycle(&p)
	s.mu.Unlock()
	close(b.done)
	if snap != nil {
		s.compact(snap)
	}
}

// dropJournal stops appending to the journal after a failed write or sync, and cuts it back
// to what was synced, so that no part of a refused batch is read back by a later Open. After
// a failed fdatasync the kernel may already have marked the unwritten pages clean, so the
// journal is never appended to again: the next successful write is a fresh snapshot and
// journal (retryWrite).
func (s *Store) dropJournal() {
	st := s.opts.storage
	if err := st.truncate(s.journal, s.joff); err == nil {
		st.sync(s.journal) // best effort: the snapshot written on recovery supersedes it
	}
	s.journal.Close()
	s.journal = nil
}

// takeBack refuses batch p and everything queued after it with err: their lease/del records
// are removed from memory again (touches are kept: memory is what the recovery snapshot
// writes), their callers get err, and the store becomes degraded.
func (s *Store) takeBack(p *pending, err error) {
	s.mu.Lock()
	q := s.take()
	s.tab.revert(q.undo)
	s.tab.revert(p.undo)
	replayTouches(&s.tab, p.buf)
	replayTouches(&s.tab, q.buf)
	refused := uint64(p.leases + q.leases)
	s.stats.Failures++
	s.stats.Refused += refused
	first := s.fault == nil
	s.degrade(err)
	s.refused += refused
	p.b.err, q.b.err = err, err
	s.recycle(p)
	clear(q.undo)
	s.undo = q.undo[:0]
	s.mu.Unlock()
	close(p.b.done)
	close(q.b.done)
	if first {
		s.opts.Logger.Error("lease store: write failed; refusing new leases until a retry succeeds", "err", err, "refused", refused)
	} else {
		s.opts.Logger.Debug("lease store: retry failed", "err", err, "refused", refused)
	}
}

// replayTouches applies the touch records in buf again (after a revert removed the
// lease records they rode with).
func replayTouches(t *table, buf []byte) {
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return
		}
		if r, err := parseLine(buf[:i]); err == nil && r.op == opTouch {
			t.apply(&r)
		}
		buf = buf[i+1:]
	}
}

// degrade records err as the reason the store refuses commits and schedules the next try;
// the caller holds s.mu.
func (s *Store) degrade(err error) {
	now := time.Now()
	if s.fault == nil {
		s.since, s.refused = now, 0
		s.backoff = max(s.opts.RetryInterval/16, time.Millisecond)
	} else {
		s.backoff = min(2*s.backoff, s.opts.RetryInterval)
	}
	s.fault = err
	s.retryAt = now.Add(s.backoff)
}

// retryWrite is flush for a degraded store: it writes the whole table (which includes
// everything queued) as a new snapshot and starts a new journal. Touches alone do not
// start an attempt before the backoff ends; they stay in memory, where the next attempt
// takes them from.
func (s *Store) retryWrite(why flushReason) {
	s.mu.Lock()
	if s.npend == s.ntouch && (why == flushTick || why == flushKick) {
		s.pend, s.npend, s.ntouch = s.pend[:0], 0, 0
		s.mu.Unlock()
		return
	}
	p := s.take()
	snap := s.encodeSnapshot(s.gen)
	s.mu.Unlock()

	_, durable, err := s.rotate(snap)
	if !durable {
		s.takeBack(&p, err)
		return
	}
	s.mu.Lock()
	since, refused := s.since, s.refused
	if err != nil {
		// The snapshot holds the batch; only the new journal is missing.
		s.stats.Failures++
		s.degrade(err)
	} else {
		s.stats.Recoveries++
		s.fault, s.since, s.retryAt, s.refused = nil, time.Time{}, time.Time{}, 0
	}
	b := p.b
	s.recycle(&p)
	s.mu.Unlock()
	close(b.done)
	if err == nil {
		s.opts.Logger.Info("lease store: writing again", "degraded_for", time.Since(since).Round(time.Millisecond), "refused", refused)
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
	renamed, _, err := s.rotate(snap)
	switch {
	case err == nil:
	case !renamed:
		// The old snapshot and journal are intact; try again after another CompactAfter.
		s.jrecs = 0
		s.opts.Logger.Warn("lease store: compaction failed; journal kept", "err", err)
	default:
		// The new snapshot covers the current journal, so appends to it would be ignored
		// on load: stop until a retry has started a new journal. Everything acknowledged
		// is in the journal and, once its directory entry is synced, in the snapshot.
		s.dropJournal()
		s.mu.Lock()
		s.stats.Failures++
		first := s.fault == nil
		s.degrade(err)
		s.mu.Unlock()
		if first {
			s.opts.Logger.Error("lease store: compaction failed after the snapshot was replaced; refusing new leases until a retry succeeds", "err", err)
		}
	}
}

// rotate writes snap as the snapshot of generation s.gen and starts the empty journal
// s.gen+1, which replaces s.journal (closed) on success. renamed says the new snapshot is in
// place, so the current journal is covered and must not be appended to; durable says its
// directory entry was synced too, so snap survives a power cut. Errors wrap ErrFailed.
func (s *Store) rotate(snap []byte) (renamed, durable bool, err error) {
	renamed, err = s.writeAtomic(snapName, snap)
	if err != nil {
		return renamed, false, writeError("snapshot", err)
	}
	s.countSyncs(2, true)
	j, size, err := s.newJournal(s.gen + 1)
	if err != nil {
		return true, true, writeError("new journal", err)
	}
	if s.journal != nil {
		s.journal.Close()
	}
	s.journal, s.gen, s.jrecs, s.joff = j, s.gen+1, 0, size
	return true, true, nil
}

// newJournal atomically creates an empty journal of generation gen and returns it open for
// appending, with its size.
func (s *Store) newJournal(gen uint64) (*os.File, int64, error) {
	hdr := appendRecord([]byte(journalComment), &record{op: opJournal, n: gen})
	if _, err := s.writeAtomic(journalName, hdr); err != nil {
		return nil, 0, err
	}
	s.countSyncs(2, false)
	f, err := s.opts.storage.openFile(filepath.Join(s.dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, 0, err
	}
	return f, int64(len(hdr)), nil
}

func (s *Store) countSyncs(n uint64, compaction bool) {
	s.mu.Lock()
	s.stats.Syncs += n
	if compaction {
		s.stats.Compactions++
	}
	s.mu.Unlock()
}

// writeAtomic writes name.tmp, syncs it, renames it to name and syncs the directory.
// renamed reports whether the rename happened (then the new file may be what a reload sees,
// even if err is set by the directory sync).
func (s *Store) writeAtomic(name string, data []byte) (renamed bool, err error) {
	st := s.opts.storage
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	f, err := st.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, err
	}
	_, err = st.write(f, data)
	if err == nil {
		err = st.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = st.rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, s.syncDir()
}

func (s *Store) syncDir() error {
	st := s.opts.storage
	d, err := st.openFile(s.dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = st.sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", s.dir, err)
	}
	return nil
}

package lease

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const maxProblems = 100

func (r *LoadReport) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

func (r *LoadReport) skip(file string, line int, err error) {
	r.Skipped++
	r.problem("%s:%d: skipped: %v", file, line, err)
}

// fileState is what loading one file found.
type fileState struct {
	exists  bool
	gen     uint64
	hasGen  bool
	records int
	damaged bool // a line was skipped, or the file is otherwise not as we write it
	reuse   bool // safe to append to (journal only)
}

// load rebuilds the table from the snapshot and the journal, then leaves a journal open for
// appending, writing a fresh snapshot and journal unless the files on disk are clean.
func (s *Store) load(rep *LoadReport) error {
	snapPath := filepath.Join(s.dir, snapName)
	jPath := filepath.Join(s.dir, journalName)
	// Leftovers of a compaction cut short; the renamed files are authoritative.
	os.Remove(snapPath + ".tmp")
	os.Remove(jPath + ".tmp")

	snap, err := s.loadSnapshot(snapPath, rep)
	if err != nil {
		return err
	}
	j, err := s.loadJournal(jPath, snap, rep)
	if err != nil {
		return err
	}
	if snap.exists && j.exists && !snap.damaged && !j.damaged && j.reuse {
		s.gen, s.jrecs = j.gen, j.records
		f, err := s.opts.storage.openFile(jPath, os.O_WRONLY|os.O_APPEND, 0)
		var fi os.FileInfo
		if err == nil {
			if fi, err = f.Stat(); err != nil {
				f.Close()
			}
		}
		if err != nil {
			// Readable but not writable: serve what was read and retry the write later.
			s.degrade(writeError("journal "+jPath, err))
			return nil
		}
		s.journal, s.joff = f, fi.Size()
		return nil
	}

	// Rewrite: keep the damaged files for a human, then snapshot what we have.
	if snap.damaged {
		s.preserve(snapPath, rep)
	}
	if j.damaged {
		s.preserve(jPath, rep)
	}
	s.gen = max(snap.gen, j.gen)
	if _, _, err := s.rotate(s.encodeSnapshot(s.gen)); err != nil {
		// A full disk must not keep the leases that are readable from being served: run
		// degraded (reads and renewals from memory, no new leases) until a retry can write.
		// Until then the files stay as they are and load the same way again.
		s.degrade(err)
	}
	return nil
}

func (s *Store) loadSnapshot(path string, rep *LoadReport) (fileState, error) {
	var st fileState
	ends := 0
	var endN uint64
	err := readLines(path, func(no int, line []byte, complete bool) {
		st.exists = true
		if len(line) > 0 && line[0] == '#' && complete {
			return
		}
		r, err := parseLine(line)
		if err == nil && !complete {
			err = errors.New("last line incomplete")
		}
		if err != nil {
			rep.skip(snapName, no, err)
			st.damaged = true
			return
		}
		switch r.op {
		case opSnapshot:
			if st.hasGen || st.records > 0 {
				rep.skip(snapName, no, errors.New("snapshot header not first"))
				st.damaged = true
				return
			}
			st.gen, st.hasGen = r.n, true
		case opLease:
			s.tab.apply(&r)
			st.records++
		case opEnd:
			ends++
			endN = r.n
		default:
			rep.skip(snapName, no, fmt.Errorf("%s record in a snapshot", opNames[r.op]))
			st.damaged = true
		}
	})
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.exists = true
	rep.SnapshotRecords = st.records
	switch {
	case !st.hasGen:
		rep.problem("%s: no snapshot header; generation unknown", snapName)
		st.damaged = true
	case ends != 1 || endN != uint64(st.records):
		rep.problem("%s: incomplete: end marker says %d leases, read %d (%d end markers)", snapName, endN, st.records, ends)
		st.damaged = true
	}
	return st, nil
}

func (s *Store) loadJournal(path string, snap fileState, rep *LoadReport) (fileState, error) {
	var st fileState
	skipping := false
	sawRecord := false
	err := readLines(path, func(no int, line []byte, complete bool) {
		st.exists = true
		if skipping {
			return
		}
		if len(line) > 0 && line[0] == '#' && complete {
			return
		}
		r, err := parseLine(line)
		if err != nil {
			if !complete {
				// A write cut short by a crash or power cut: expected, and never acknowledged.
				rep.TornTail = true
				rep.problem("%s:%d: torn last line (%d bytes) skipped", journalName, no, len(line))
			} else {
				rep.skip(journalName, no, err)
			}
			st.damaged = true
			return
		}
		if !complete {
			rep.problem("%s:%d: last line valid but unterminated", journalName, no)
			st.damaged = true // do not append after it
		}
		if r.op == opJournal {
			if sawRecord || st.hasGen {
				rep.skip(journalName, no, errors.New("journal header not first"))
				st.damaged = true
				return
			}
			st.gen, st.hasGen = r.n, true
			if snap.hasGen && st.gen <= snap.gen {
				// Compaction finished its snapshot but not the new journal: all of this
				// journal is already in the snapshot.
				rep.problem("%s: generation %d already in snapshot %d; ignored", journalName, st.gen, snap.gen)
				skipping = true
			}
			return
		}
		sawRecord = true
		switch r.op {
		case opLease, opTouch, opDel:
			s.tab.apply(&r)
			st.records++
		default:
			rep.skip(journalName, no, fmt.Errorf("%s record in a journal", opNames[r.op]))
			st.damaged = true
		}
	})
	if errors.Is(err, os.ErrNotExist) {
		if snap.exists {
			rep.problem("%s: missing; snapshot only", journalName)
		}
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.exists = true
	rep.JournalRecords = st.records
	if !st.hasGen {
		// Without a header we cannot tell whether the snapshot covers it; replaying is the
		// choice that cannot lose an acknowledged lease.
		rep.problem("%s: no journal header; replayed over the snapshot", journalName)
		st.damaged = true
	}
	if !snap.exists {
		rep.problem("%s: missing; journal only", snapName)
	}
	st.reuse = !skipping && st.hasGen
	if skipping {
		st.gen = max(st.gen, snap.gen)
	}
	return st, nil
}

// readLines calls fn for every line of the file without its '\n'; complete is false for a
// last line with no '\n'. Lines longer than maxLine are passed truncated to maxLine+1 bytes
// so the parser rejects them.
func readLines(path string, fn func(no int, line []byte, complete bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var long []byte
	no := 0
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if long == nil {
				long = append(long, line[:min(len(line), maxLine+1)]...)
			}
			continue
		case err == io.EOF:
			if len(line) > 0 || long != nil {
				no++
				if long != nil {
					line = long
				}
				fn(no, line, false)
			}
			return nil
		case err != nil:
			return err
		}
		no++
		if long != nil {
			fn(no, long, true)
			long = nil
			continue
		}
		fn(no, line[:len(line)-1], true)
	}
}

// preserve keeps a copy of a damaged file as name.damaged (replacing an older one) before
// it is rewritten: a hard link, or a copy where links are not supported.
func (s *Store) preserve(path string, rep *LoadReport) {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return // nothing worth keeping
	}
	dst := path + ".damaged"
	os.Remove(dst)
	err := os.Link(path, dst)
	if err != nil {
		err = copyFile(path, dst)
	}
	if err != nil {
		rep.problem("could not keep %s: %v", filepath.Base(path), err)
		return
	}
	rep.Preserved = append(rep.Preserved, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

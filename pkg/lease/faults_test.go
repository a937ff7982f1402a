package lease

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultyStorage is the operating system's storage with faults injected where fail says.
// A failing write first writes half of its bytes, as a write cut short by a full disk does.
type faultyStorage struct {
	osStorage
	mu    sync.Mutex
	fail  func(op, name string) error // nil: no faults
	calls map[string]int              // per op
}

func newFaulty() *faultyStorage {
	return &faultyStorage{osStorage: osStorage{syncFile: datasync}, calls: map[string]int{}}
}

func (f *faultyStorage) set(fail func(op, name string) error) {
	f.mu.Lock()
	f.fail = fail
	f.mu.Unlock()
}

func (f *faultyStorage) check(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.fail == nil {
		return nil
	}
	return f.fail(op, filepath.Base(name))
}

func (f *faultyStorage) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultyStorage) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := f.check("open", name); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return f.osStorage.openFile(name, flag, perm)
}

func (f *faultyStorage) write(file *os.File, b []byte) (int, error) {
	if err := f.check("write", file.Name()); err != nil {
		n, _ := file.Write(b[:len(b)/2])
		return n, &os.PathError{Op: "write", Path: file.Name(), Err: err}
	}
	return file.Write(b)
}

func (f *faultyStorage) sync(file *os.File) error {
	if err := f.check("sync", file.Name()); err != nil {
		return &os.PathError{Op: "fdatasync", Path: file.Name(), Err: err}
	}
	return f.osStorage.sync(file)
}

func (f *faultyStorage) truncate(file *os.File, size int64) error {
	if err := f.check("truncate", file.Name()); err != nil {
		return &os.PathError{Op: "truncate", Path: file.Name(), Err: err}
	}
	return file.Truncate(size)
}

func (f *faultyStorage) rename(from, to string) error {
	if err := f.check("rename", to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return os.Rename(from, to)
}

// failOn fails op on the files whose name starts with name with errno.
func failOn(op, name string, errno error) func(string, string) error {
	return func(o, n string) error {
		if o == op && strings.HasPrefix(n, name) {
			return errno
		}
		return nil
	}
}

// waitHealthy waits for the store's own retries to end a degraded period.
func waitHealthy(t *testing.T, s *Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if bad, _ := s.Degraded(); !bad {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("still degraded after %v: %+v", within, s.Health())
}

// TestWriteFailureTakenBack: whatever write fails, the refused lease is not in memory, not
// in the journal and not acknowledged; what was acknowledged stays; the store recovers by
// itself once the fault is gone, without a reopen.
func TestWriteFailureTakenBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(op, name string) error
		noSpace bool
		kept    bool // the journal could not be cut back: the refused record stays in it until the retry replaces it
	}{
		{"journal write ENOSPC", failOn("write", journalName, syscall.ENOSPC), true, false},
		{"journal write EDQUOT", failOn("write", journalName, syscall.EDQUOT), true, false},
		{"journal write EIO", failOn("write", journalName, syscall.EIO), false, false},
		{"journal fdatasync EIO", failOn("sync", journalName, syscall.EIO), false, false},
		{"journal fdatasync ENOSPC", failOn("sync", journalName, syscall.ENOSPC), true, false},
		{"journal fdatasync and truncate fail", func(op, n string) error {
			if (op == "sync" || op == "truncate") && n == journalName {
				return syscall.EIO
			}
			return nil
		}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFaulty()
			dir := scratchDir(t)
			s, _ := mustOpen(t, dir, Options{storage: fs, RetryInterval: 40 * time.Millisecond, FlushInterval: time.Hour})
			defer s.Close()
			var m model
			for i := range 5 {
				mustCommit(t, s, bound(i, i))
				m.lease(bound(i, i))
			}
			touched := t0.Add(99 * time.Hour)
			if err := s.Touch(mac(0), touched); err != nil { // rides with the failing batch
				t.Fatal(err)
			}
			m.touch(mac(0), touched)
			fs.set(tc.fail)

			// A new client, and a known one moving to a new address: both refused.
			for _, l := range []Lease{bound(5, 5), bound(2, 20)} {
				err := s.Commit(bg, l)
				if !errors.Is(err, ErrFailed) || errors.Is(err, ErrNoSpace) != tc.noSpace {
					t.Fatalf("Commit(%v) = %v, want ErrFailed, ErrNoSpace %v", l.IP, err, tc.noSpace)
				}
				if got, want := s.All(), m.all(); !equalLeases(got, want) {
					t.Fatalf("after a refused commit, memory:\n%s\nacknowledged:\n%s", dump(got), dump(want))
				}
			}
			if j := readFile(t, dir, journalName); strings.Contains(j, "host-5") != tc.kept {
				t.Errorf("refused record left in the journal:\n%s", j)
			}
			h := s.Health()
			if !h.Degraded || errors.Is(h.Err, ErrNoSpace) != tc.noSpace || h.Refused != 2 {
				t.Errorf("Health = %+v", h)
			}
			fs.set(nil)
			waitHealthy(t, s, 5*time.Second)
			mustCommit(t, s, bound(6, 6))
			m.lease(bound(6, 6))
			st := s.Stats()
			if st.Recoveries != 1 || st.Refused != 2 || st.Failures == 0 {
				t.Errorf("Stats = %+v", st)
			}
			mustClose(t, s)
			s2, rep := mustOpen(t, dir, Options{})
			defer mustClose(t, s2)
			if rep.Damaged() {
				t.Errorf("reopen damaged: %+v", rep)
			}
			if got, want := s2.All(), m.all(); !equalLeases(got, want) {
				t.Fatalf("reopened:\n%s\nacknowledged:\n%s", dump(got), dump(want))
			}
		})
	}
}

// TestDegradedRefusesWithoutIO: during the backoff a commit is refused without touching
// the disk, so a full disk does not cost a write per DHCP request.
func TestDegradedRefusesWithoutIO(t *testing.T) {
	fs := newFaulty()
	s, _ := mustOpen(t, scratchDir(t), Options{storage: fs, RetryInterval: time.Hour})
	mustCommit(t, s, bound(1, 1))
	fs.set(failOn("write", "", syscall.ENOSPC))
	if err := s.Commit(bg, bound(2, 2)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Commit = %v", err)
	}
	w, o := fs.count("write"), fs.count("open")
	for i := range 100 {
		if err := s.Commit(bg, bound(3+i, 3+i)); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("Commit = %v", err)
		}
	}
	if fs.count("write") != w || fs.count("open") != o {
		t.Errorf("refused commits wrote: writes %d→%d, opens %d→%d", w, fs.count("write"), o, fs.count("open"))
	}
	if h := s.Health(); h.Refused != 101 || s.Len() != 1 {
		t.Errorf("Health = %+v, Len %d", h, s.Len())
	}
	if err := s.Close(); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Close on a full disk = %v, want ErrNoSpace", err)
	}
}

// TestRecoveryFaults: failures in every step of the rewrite that ends a degraded period
// (snapshot write, sync, rename, directory sync, new journal) keep the store degraded and
// lose nothing; a snapshot that is in place but lacks a journal acknowledges its batch.
func TestRecoveryFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fail  func(op, name string) error
		acked bool // the commit that triggered the retry is acknowledged
	}{
		{"snapshot write", failOn("write", snapName+".tmp", syscall.ENOSPC), false},
		{"snapshot sync", failOn("sync", snapName+".tmp", syscall.EIO), false},
		{"snapshot rename", failOn("rename", snapName, syscall.EIO), false},
		{"directory sync", func(op, n string) error {
			if op == "sync" && n != snapName+".tmp" && n != journalName+".tmp" && n != journalName {
				return syscall.EIO
			}
			return nil
		}, false},
		{"new journal write", failOn("write", journalName+".tmp", syscall.ENOSPC), true},
		{"new journal open", failOn("open", journalName+".tmp", syscall.ENOSPC), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFaulty()
			dir := scratchDir(t)
			s, _ := mustOpen(t, dir, Options{storage: fs, RetryInterval: 5 * time.Millisecond})
			defer s.Close()
			var m model
			for i := range 3 {
				mustCommit(t, s, bound(i, i))
				m.lease(bound(i, i))
			}
			fs.set(failOn("write", journalName, syscall.ENOSPC))
			if err := s.Commit(bg, bound(3, 3)); !errors.Is(err, ErrNoSpace) {
				t.Fatalf("Commit = %v", err)
			}
			fs.set(tc.fail)
			// Commit until the backoff lets one through to a retry, which hits the fault.
			var err error
			for range 300 {
				if err = s.Commit(bg, bound(4, 4)); err == nil || !tc.acked && s.Stats().Failures >= 4 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if tc.acked != (err == nil) || s.Stats().Failures < 2 {
				t.Fatalf("Commit = %v after %d failures, want acknowledged %v", err, s.Stats().Failures, tc.acked)
			}
			if err == nil {
				m.lease(bound(4, 4))
				if bad, _ := s.Degraded(); !bad {
					t.Error("store healthy without a journal")
				}
			}
			if got, want := s.All(), m.all(); !equalLeases(got, want) {
				t.Fatalf("memory:\n%s\nacknowledged:\n%s", dump(got), dump(want))
			}
			// What is on disk now (as a crash would find it) holds every acknowledged lease.
			checkOnDisk(t, dir, m.all())
			fs.set(nil)
			waitHealthy(t, s, 5*time.Second)
			mustCommit(t, s, bound(5, 5))
			m.lease(bound(5, 5))
			mustClose(t, s)
			s2, rep := mustOpen(t, dir, Options{})
			defer mustClose(t, s2)
			if rep.Damaged() {
				t.Errorf("reopen damaged: %+v", rep)
			}
			if got, want := s2.All(), m.all(); !equalLeases(got, want) {
				t.Fatalf("reopened:\n%s\nacknowledged:\n%s", dump(got), dump(want))
			}
		})
	}
}

// checkOnDisk copies dir's files aside, opens the copy and checks that every lease in want
// is there as wanted (others may be too: a refused batch can reach a snapshot whose
// directory sync failed).
func checkOnDisk(t *testing.T, dir string, want []Lease) {
	t.Helper()
	cp := t.TempDir()
	for _, name := range []string{snapName, journalName} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			writeFile(t, cp, name, string(b))
		}
	}
	s, _ := mustOpen(t, cp, Options{})
	defer mustClose(t, s)
	for _, w := range want {
		got, ok := s.ByIP(w.IP)
		if !ok || !equalLeases([]Lease{got}, []Lease{w}) {
			t.Errorf("on disk %v = %+v %v, want %+v", w.IP, got, ok, w)
		}
	}
}

// TestOpenCannotWrite: files that need rewriting (a torn tail) on a disk that refuses
// writes still open, serve every valid record and renewals, refuse commits, and recover.
func TestOpenCannotWrite(t *testing.T) {
	dir := scratchDir(t)
	s, _ := mustOpen(t, dir, Options{})
	var m model
	for i := range 10 {
		mustCommit(t, s, bound(i, i))
		m.lease(bound(i, i))
	}
	mustClose(t, s)
	torn := leaseLine(bound(50, 50))
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn[:len(torn)/2])
	f.Close()

	fs := newFaulty()
	fs.set(failOn("write", "", syscall.ENOSPC))
	s, rep, err := Open(dir, Options{storage: fs, RetryInterval: 40 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open on a full disk = %v, want degraded store", err)
	}
	defer s.Close()
	if !rep.TornTail || rep.Leases != 10 {
		t.Errorf("report %+v", rep)
	}
	if h := s.Health(); !h.Degraded || !errors.Is(h.Err, ErrNoSpace) {
		t.Errorf("Health = %+v", h)
	}
	if got, want := s.All(), m.all(); !equalLeases(got, want) {
		t.Fatalf("served:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	if err := s.Touch(mac(3), t0.Add(7*time.Hour)); err != nil {
		t.Errorf("Touch = %v", err)
	}
	m.touch(mac(3), t0.Add(7*time.Hour))
	if err := s.Commit(bg, bound(11, 11)); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Commit = %v, want ErrNoSpace", err)
	}
	fs.set(nil)
	waitHealthy(t, s, 5*time.Second)
	mustCommit(t, s, bound(12, 12))
	m.lease(bound(12, 12))
	mustClose(t, s)
	s2, rep := mustOpen(t, dir, Options{})
	defer mustClose(t, s2)
	if rep.Damaged() {
		t.Errorf("reopen damaged: %+v", rep)
	}
	if got, want := s2.All(), m.all(); !equalLeases(got, want) {
		t.Fatalf("reopened:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

// TestRandomFaultsModel drives random operations while random writes, syncs, truncates,
// renames and opens fail: after every step memory must equal the naive model of the
// acknowledged operations (plus renewals), and so must a reopen.
func TestRandomFaultsModel(t *testing.T) {
	dir := scratchDir(t)
	rng := rand.New(rand.NewPCG(3, 4))
	fs := newFaulty()
	errnos := []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO}
	frng := rand.New(rand.NewPCG(5, 6)) // used under fs.mu, from the writer goroutine too
	faults := func(op, name string) error {
		if frng.IntN(8) == 0 {
			return errnos[frng.IntN(len(errnos))]
		}
		return nil
	}
	opts := Options{storage: fs, CompactAfter: 13, FlushInterval: time.Hour, MaxPendingTouches: 5, RetryInterval: 2 * time.Millisecond}
	s, _ := mustOpen(t, dir, opts)
	var m model
	var refused, acked int
	for step := range 3000 {
		fs.set(faults)
		c, i := rng.IntN(30), rng.IntN(40)
		switch op := rng.IntN(10); {
		case op < 5:
			l := bound(c, i)
			l.Expiry = t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
			l.State = State(1 + rng.IntN(4))
			if l.State == Declined && rng.IntN(2) == 0 {
				l.MAC = nil
			}
			if err := s.Commit(bg, l); err == nil {
				m.lease(l)
				acked++
			} else if !errors.Is(err, ErrFailed) {
				t.Fatalf("step %d: Commit = %v", step, err)
			} else {
				refused++
			}
		case op < 7:
			e := t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
			err := s.Touch(mac(c), e)
			if merr := m.touch(mac(c), e); (err == nil) != (merr == nil) {
				t.Fatalf("step %d: Touch = %v, model %v", step, err, merr)
			}
		case op < 8:
			if err := s.Delete(bg, ip(i)); err == nil {
				m.del(ip(i))
			} else if !errors.Is(err, ErrFailed) {
				t.Fatal(err)
			}
		case op < 9:
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond) // let retries run
		default:
			fs.set(nil)
			mustClose(t, s) // its retry succeeds without faults
			s, _ = mustOpen(t, dir, opts)
		}
		if got, want := s.All(), m.all(); !equalLeases(got, want) {
			t.Fatalf("step %d: store:\n%s\nmodel:\n%s", step, dump(got), dump(want))
		}
	}
	fs.set(nil)
	mustClose(t, s)
	s, rep := mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if rep.Damaged() {
		t.Errorf("clean shutdown reloaded as damaged: %+v", rep)
	}
	if got, want := s.All(), m.all(); !equalLeases(got, want) {
		t.Fatalf("final reopen:\nstore:\n%s\nmodel:\n%s", dump(got), dump(want))
	}
	if refused < 100 || acked < 100 {
		t.Errorf("only %d refused and %d acknowledged commits: the faults did not bite", refused, acked)
	}
	t.Logf("%d acknowledged, %d refused", acked, refused)
}

// TestConcurrentFaults: committers on several goroutines while random storage operations
// fail, so refusals also hit records queued behind a failing batch. Each MAC must end on
// its last acknowledged address, in memory and after a reopen; a MAC never acknowledged
// must be absent.
func TestConcurrentFaults(t *testing.T) {
	const workers, macs, addrs, iters = 6, 10, 50, 400
	dir := scratchDir(t)
	fs := newFaulty()
	frng := rand.New(rand.NewPCG(7, 8)) // used under fs.mu
	fs.set(func(op, name string) error {
		if (op == "write" || op == "sync") && frng.IntN(10) == 0 {
			return syscall.ENOSPC
		}
		return nil
	})
	s, _ := mustOpen(t, dir, Options{storage: fs, CompactAfter: 40, RetryInterval: 2 * time.Millisecond})
	id := func(g, k int) int { return g*100 + k }
	var acked [workers][macs]int
	var refused [workers]int
	var wg sync.WaitGroup
	for g := range workers {
		for j := range macs {
			acked[g][j] = -1
		}
		wg.Go(func() {
			for i := range iters {
				l := Lease{MAC: mac(id(g, i%macs)), IP: ip(id(g, i%addrs)), Expiry: t0, State: Bound}
				err := s.Commit(bg, l)
				switch {
				case err == nil:
					acked[g][i%macs] = i
				case errors.Is(err, ErrNoSpace):
					refused[g]++
					time.Sleep(time.Duration(i%3) * time.Millisecond)
				default:
					t.Errorf("Commit = %v", err)
					return
				}
				if i%7 == 0 {
					s.Touch(mac(id(g, (i+1)%macs)), t0.Add(time.Hour))
				}
			}
		})
	}
	wg.Wait()
	check := func(what string, s *Store) {
		t.Helper()
		for g := range workers {
			for j := range macs {
				l, ok := s.Get(mac(id(g, j)))
				i := acked[g][j]
				switch {
				case i < 0 && ok:
					t.Errorf("%s: %v never acknowledged but holds %v", what, l.MAC, l.IP)
				case i >= 0 && !ok:
					t.Errorf("%s: acknowledged lease of %v lost", what, mac(id(g, j)))
				case i >= 0 && l.IP != ip(id(g, i%addrs)):
					t.Errorf("%s: %v holds %v, last acknowledged %v", what, l.MAC, l.IP, ip(id(g, i%addrs)))
				}
			}
		}
	}
	check("memory", s)
	fs.set(nil)
	mustClose(t, s)
	s, _ = mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	check("reopened", s)
	total := 0
	for _, r := range refused {
		total += r
	}
	if total == 0 {
		t.Error("no commit refused: the faults did not bite")
	}
	t.Logf("%d commits, %d refused", workers*iters, total)
}

package lease

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

func TestCommitReopen(t *testing.T) {
	dir := t.TempDir()
	s, rep := mustOpen(t, dir, Options{})
	if rep.Damaged() || rep.Leases != 0 {
		t.Fatalf("fresh dir report: %+v", rep)
	}
	want := []Lease{
		bound(1, 1),
		{MAC: mac(2), IP: ip(2), Expiry: t0, Hostname: "tab\there 100%\nnew ü", ClientID: []byte{1, 0x52, 0x54, 0, 0, 0, 2}, State: Offered},
		{IP: ip(3), Expiry: t0.Add(time.Hour), State: Declined},
		{MAC: mac(4), IP: ip(4), State: Released}, // no expiry
		{MAC: make([]byte, 16), IP: ip(5), Expiry: t0, State: Bound},
	}
	for _, l := range want {
		mustCommit(t, s, l)
	}
	if got := s.All(); !equalLeases(got, want) {
		t.Fatalf("in memory:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	mustClose(t, s)
	s, rep = mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if rep.Damaged() || rep.Leases != len(want) || rep.JournalRecords != len(want) {
		t.Errorf("reopen report: %+v", rep)
	}
	if got := s.All(); !equalLeases(got, want) {
		t.Fatalf("after reopen:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestIndexRules(t *testing.T) {
	s, _ := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	mustCommit(t, s, bound(1, 10))
	// The client moves: its old address is freed.
	mustCommit(t, s, bound(1, 11))
	if _, ok := s.ByIP(ip(10)); ok {
		t.Error("old address still leased after the client moved")
	}
	if l, ok := s.Get(mac(1)); !ok || l.IP != ip(11) {
		t.Errorf("Get after move = %v %v", l.IP, ok)
	}
	// Another client takes the address over (reclaim): the first client loses its lease.
	mustCommit(t, s, bound(2, 11))
	if _, ok := s.Get(mac(1)); ok {
		t.Error("client 1 still has a lease on an address given to client 2")
	}
	// A decline quarantines the address and is not the decliner's lease.
	if err := s.Decline(bg, ip(11), mac(2), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(mac(2)); ok {
		t.Error("declined lease indexed by MAC")
	}
	if l, ok := s.ByIP(ip(11)); !ok || l.State != Declined {
		t.Errorf("ByIP(declined) = %+v %v", l, ok)
	}
	// Release keeps the address linked to the client.
	mustCommit(t, s, bound(3, 12))
	if err := s.Release(bg, mac(3), t0); err != nil {
		t.Fatal(err)
	}
	if l, ok := s.Get(mac(3)); !ok || l.State != Released || l.IP != ip(12) || !l.Expiry.Equal(t0) {
		t.Errorf("after release: %+v %v", l, ok)
	}
	if err := s.Release(bg, mac(99), t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Release(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(bg, ip(12)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(mac(3)); ok {
		t.Error("deleted lease still found by MAC")
	}
	if err := s.Delete(bg, ip(200)); err != nil {
		t.Errorf("Delete(free) = %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1 (the decline)", s.Len())
	}
}

func TestCommitInvalid(t *testing.T) {
	s, _ := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	bad := []Lease{
		{MAC: mac(1), State: Bound},                                                 // no IP
		{MAC: mac(1), IP: netip.MustParseAddr("fe80::1"), State: Bound},             // IPv6
		{MAC: mac(1), IP: ip(1)},                                                    // no state
		{IP: ip(1), State: Bound},                                                   // no MAC
		{MAC: make([]byte, 17), IP: ip(1), State: Bound},                            // MAC too long
		{MAC: mac(1), IP: ip(1), State: Bound, Hostname: string(make([]byte, 256))}, // hostname too long
		{MAC: mac(1), IP: ip(1), State: Bound, ClientID: make([]byte, 256)},         // client id too long
		{MAC: mac(1), IP: ip(1), State: Bound, Expiry: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for i, l := range bad {
		if err := s.Commit(bg, l); !errors.Is(err, ErrInvalid) {
			t.Errorf("%d: Commit(%+v) = %v, want ErrInvalid", i, l, err)
		}
	}
	if s.Len() != 0 {
		t.Errorf("invalid leases stored: %d", s.Len())
	}
}

func TestCallerBuffersCopied(t *testing.T) {
	s, _ := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	m := mac(1)
	cid := []byte{1, 2, 3}
	mustCommit(t, s, Lease{MAC: m, IP: ip(1), ClientID: cid, State: Bound})
	m[5], cid[0] = 0xff, 0xff // the DHCP server reuses its packet buffers
	l, ok := s.Get(mac(1))
	if !ok || l.ClientID[0] != 1 {
		t.Fatalf("store kept the caller's buffers: %+v %v", l, ok)
	}
}

func TestTouchIsLazy(t *testing.T) {
	var cs countingSync
	s, _ := mustOpen(t, t.TempDir(), Options{Sync: cs.sync, FlushInterval: time.Hour, MaxPendingTouches: 10})
	mustCommit(t, s, bound(1, 1))
	before := cs.n.Load()
	for i := range 9 {
		if err := s.Touch(mac(1), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := cs.n.Load(); n != before {
		t.Fatalf("9 touches caused %d syncs, want none before the interval", n-before)
	}
	if l, _ := s.Get(mac(1)); !l.Expiry.Equal(t0.Add(8 * time.Minute)) {
		t.Errorf("touch not visible in memory: %v", l.Expiry)
	}
	// The 10th reaches MaxPendingTouches and is written in one batch.
	if err := s.Touch(mac(1), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Batches < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := s.Stats(); st.Touches != 10 || st.Batches != 2 {
		t.Errorf("stats = %+v, want 10 touches in the second batch", st)
	}
	if err := s.Touch(mac(42), t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Touch(unknown) = %v", err)
	}
	// A touch then a commit in the same batch keep their order.
	if err := s.Touch(mac(1), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, bound(1, 2))
	if err := s.Touch(mac(1), t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := s.All()
	mustClose(t, s) // flushes the last touch
	s, _ = mustOpen(t, s.Dir(), Options{})
	defer mustClose(t, s)
	if got := s.All(); !equalLeases(got, want) {
		t.Fatalf("after reopen:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestTouchFlushInterval(t *testing.T) {
	var cs countingSync
	dir := t.TempDir()
	s, _ := mustOpen(t, dir, Options{Sync: cs.sync, FlushInterval: 20 * time.Millisecond})
	defer mustClose(t, s)
	mustCommit(t, s, bound(1, 1))
	n := cs.n.Load()
	if err := s.Touch(mac(1), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Batches < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if cs.n.Load() == n || s.Stats().Batches < 2 {
		t.Fatal("touch never flushed by the interval")
	}
	// What a crash now would load: read the files while the store is still open.
	other := t.TempDir()
	for _, name := range []string{snapName, journalName} {
		writeFile(t, other, name, readFile(t, dir, name))
	}
	s2, _ := mustOpen(t, other, Options{})
	defer mustClose(t, s2)
	if l, _ := s2.Get(mac(1)); !l.Expiry.Equal(t0.Add(time.Hour)) {
		t.Errorf("flushed touch not on disk: expiry %v", l.Expiry)
	}
}

func TestGroupCommit(t *testing.T) {
	// A slow sync makes committers pile up behind it; they must share syncs.
	var cs countingSync
	slow := func(f *os.File) error { time.Sleep(2 * time.Millisecond); return cs.sync(f) }
	s, _ := mustOpen(t, t.TempDir(), Options{Sync: slow, CompactAfter: 1 << 20})
	defer mustClose(t, s)
	before := s.Stats()
	const workers, each = 16, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				mustCommit(t, s, bound(w*each+i, w*each+i))
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	commits, batches := st.Commits-before.Commits, st.Batches-before.Batches
	if commits != workers*each {
		t.Fatalf("commits = %d", commits)
	}
	if batches >= commits/2 {
		t.Errorf("%d commits took %d batches; group commit should need far fewer", commits, batches)
	}
	if s.Len() != workers*each {
		t.Errorf("Len = %d", s.Len())
	}
	t.Logf("%d commits in %d batches", commits, batches)
}

// TestSyncFailureRecovers: a failed fdatasync refuses the batch, keeps what was
// acknowledged and ends by itself once syncs work again, without a reopen.
func TestSyncFailureRecovers(t *testing.T) {
	var fail bool
	var mu sync.Mutex
	sync := func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("EIO")
		}
		return datasync(f)
	}
	s, _ := mustOpen(t, t.TempDir(), Options{Sync: sync, RetryInterval: time.Hour})
	mustCommit(t, s, bound(1, 1))
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := s.Commit(bg, bound(2, 2)); !errors.Is(err, ErrFailed) || errors.Is(err, ErrNoSpace) {
		t.Fatalf("Commit with failing sync = %v, want ErrFailed but not ErrNoSpace", err)
	}
	if _, ok := s.Get(mac(2)); ok {
		t.Error("refused lease visible")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// The first retry is RetryInterval/16 away: until then commits are refused at once.
	if err := s.Commit(bg, bound(3, 3)); !errors.Is(err, ErrFailed) {
		t.Errorf("Commit during the backoff = %v, want ErrFailed", err)
	}
	if err := s.Touch(mac(1), t0.Add(time.Hour)); err != nil {
		t.Errorf("Touch while degraded = %v, want nil (kept in memory)", err)
	}
	if h := s.Health(); !h.Degraded || h.Refused != 2 || h.Since.IsZero() {
		t.Errorf("Health = %+v, want degraded with 2 refused", h)
	}
	// Close tries once more, and the syncs work now.
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v, want nil (its retry succeeds)", err)
	}
	s, rep := mustOpen(t, s.Dir(), Options{})
	defer mustClose(t, s)
	if rep.Damaged() {
		t.Errorf("reopen after recovery damaged: %+v", rep)
	}
	if l, ok := s.Get(mac(1)); !ok || !l.Expiry.Equal(t0.Add(time.Hour)) {
		t.Errorf("lease 1 = %+v %v, want the touched expiry", l, ok)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1:\n%s", s.Len(), dump(s.All()))
	}
}

func TestClosedAndLocked(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir, Options{})
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	mustClose(t, s)
	if err := s.Commit(bg, bound(1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	s, _ = mustOpen(t, dir, Options{})
	mustClose(t, s)
}

func TestCommitContext(t *testing.T) {
	s, _ := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.Commit(ctx, bound(1, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit(cancelled) = %v", err)
	}
	if s.Len() != 0 {
		t.Error("cancelled commit applied")
	}
}

func TestExpiredOldestFirst(t *testing.T) {
	s, _ := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	exp := []int{50, 10, 30, 70, 20}
	for i, e := range exp {
		l := bound(i, i)
		l.Expiry = t0.Add(time.Duration(e) * time.Minute)
		mustCommit(t, s, l)
	}
	mustCommit(t, s, Lease{MAC: mac(9), IP: ip(9), State: Bound}) // never expires
	var got []int
	for l := range s.Expired(t0.Add(60 * time.Minute)) {
		got = append(got, int(l.Expiry.Sub(t0)/time.Minute))
		if len(got) == 3 {
			break
		}
	}
	if want := []int{10, 20, 30}; !equalInts(got, want) {
		t.Errorf("Expired = %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRandomOpsReopen drives random operations with frequent compaction against a naive
// model, reopening now and then: memory, model and reloaded state must agree.
func TestRandomOpsReopen(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	opts := Options{CompactAfter: 17, FlushInterval: time.Hour}
	s, _ := mustOpen(t, dir, opts)
	var m model
	var compactions uint64
	for step := range 3000 {
		c, i := rng.IntN(30), rng.IntN(40)
		switch op := rng.IntN(10); {
		case op < 5:
			l := bound(c, i)
			l.Expiry = t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
			l.State = State(1 + rng.IntN(4))
			if l.State == Declined && rng.IntN(2) == 0 {
				l.MAC = nil
			}
			mustCommit(t, s, l)
			m.lease(l)
		case op < 7:
			e := t0.Add(time.Duration(rng.IntN(1000)) * time.Second)
			err := s.Touch(mac(c), e)
			if merr := m.touch(mac(c), e); (err == nil) != (merr == nil) {
				t.Fatalf("step %d: Touch = %v, model %v", step, err, merr)
			}
		case op < 8:
			err := s.Release(bg, mac(c), t0)
			if merr := m.release(mac(c), t0); (err == nil) != (merr == nil) {
				t.Fatalf("step %d: Release = %v, model %v", step, err, merr)
			}
		case op < 9:
			if err := s.Delete(bg, ip(i)); err != nil {
				t.Fatal(err)
			}
			m.del(ip(i))
		default:
			compactions += s.Stats().Compactions
			mustClose(t, s)
			s, _ = mustOpen(t, dir, opts)
		}
		if got, want := s.All(), m.all(); !equalLeases(got, want) {
			t.Fatalf("step %d: store:\n%s\nmodel:\n%s", step, dump(got), dump(want))
		}
	}
	if compactions+s.Stats().Compactions < 10 {
		t.Error("no compaction happened")
	}
	mustClose(t, s)
	s, rep := mustOpen(t, dir, opts)
	defer mustClose(t, s)
	if rep.Damaged() {
		t.Errorf("clean shutdown reloaded as damaged: %+v", rep)
	}
	if got, want := s.All(), m.all(); !equalLeases(got, want) {
		t.Fatalf("final reopen:\nstore:\n%s\nmodel:\n%s", dump(got), dump(want))
	}
}

package lease

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests fill a real filesystem: by default a tmpfs small enough to fill in a moment,
// mounted on a temporary directory; with PXE_EDGE_LEASE_FS=ext4 (bench/reliability-lease.sh)
// an ext4 image on a loop device, the filesystem of an SD card's root partition. Root only:
// outside CI they skip without it, under CI=true they fail. Both refuse a write that needs
// a new page or block with ENOSPC.

const leaseFSEnv = "PXE_EDGE_LEASE_FS"

func fsName() string {
	if k := os.Getenv(leaseFSEnv); k != "" {
		return k
	}
	return "tmpfs"
}

func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to mount a small filesystem (CI=true: not skipping)")
		}
		t.Skip("needs root to mount a small filesystem")
	}
	dir := t.TempDir()
	switch kind := os.Getenv(leaseFSEnv); kind {
	case "", "tmpfs":
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) }) // before TempDir's RemoveAll
	case "ext4":
		// The journal and metadata of ext4 take about a third of a tiny image.
		img := filepath.Join(t.TempDir(), "disk.img")
		run := func(name string, args ...string) {
			if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
				t.Fatalf("%s %v: %v\n%s", name, args, err, out)
			}
		}
		run("truncate", "-s", strconv.Itoa(max(2*size, 4<<20)), img)
		run("mkfs.ext4", "-q", "-F", "-m", "0", img) // -m 0: root gets no reserved blocks
		run("mount", "-t", "ext4", "-o", "loop,nosuid,nodev", img, dir)
		t.Cleanup(func() { exec.Command("umount", dir).Run() }) // frees the loop device too
	default:
		t.Fatalf("%s=%q: want tmpfs or ext4", leaseFSEnv, kind)
	}
	return dir
}

// fill writes disk/filler until the filesystem is full.
func fill(t testing.TB, disk string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(disk, "filler"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for range 1 << 20 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			f.Write(chunk[:1]) // and the last bytes of a partial page
			return
		}
	}
	t.Fatal("filesystem never filled")
}

func free(t testing.TB, disk string) {
	t.Helper()
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
}

// commitUntilFull commits new leases from *next on until one is refused; acknowledged ones
// go into m. It returns the refused lease.
func commitUntilFull(t *testing.T, s *Store, m *model, next *int) Lease {
	t.Helper()
	for range 5000 {
		l := bound(*next, *next%4000)
		*next++
		err := s.Commit(bg, l)
		if err == nil {
			m.lease(l)
			continue
		}
		if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Commit on a full disk = %v, want ErrNoSpace wrapping ENOSPC", err)
		}
		return l
	}
	t.Fatal("the disk never filled up")
	return Lease{}
}

// commitUntilBack retries one commit the way a DHCP client retries its REQUEST until the
// store, on its own, writes again.
func commitUntilBack(t *testing.T, s *Store, m *model, l Lease) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		err := s.Commit(bg, l)
		if err == nil {
			m.lease(l)
			return time.Since(start)
		}
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("Commit = %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no commit succeeded within 10 s of freeing space: %+v", s.Health())
	return 0
}

func checkModel(t *testing.T, what string, s *Store, m *model) {
	t.Helper()
	if got, want := s.All(), m.all(); !equalLeases(got, want) {
		t.Fatalf("%s: store (%d):\n%s\nacknowledged (%d):\n%s", what, len(got), dump(got), len(want), dump(want))
	}
}

// TestNoSpaceRecovers is the finding of issue 15: a state directory whose filesystem fills
// up refuses new leases, keeps serving and renewing the known ones, and takes commits
// again by itself once space is freed, without a reopen.
func TestNoSpaceRecovers(t *testing.T) {
	disk := smallDisk(t, 256<<10)
	dir := filepath.Join(disk, "state")
	s, _ := mustOpen(t, dir, Options{RetryInterval: 100 * time.Millisecond})
	var m model
	next := 0
	for range 10 {
		l := bound(next, next)
		next++
		mustCommit(t, s, l)
		m.lease(l)
	}
	fill(t, disk)
	refused := commitUntilFull(t, s, &m, &next)
	if _, ok := s.Get(refused.MAC); ok {
		t.Errorf("refused lease of %v visible by MAC", refused.MAC)
	}
	if _, ok := s.ByIP(refused.IP); ok {
		t.Errorf("refused lease on %v visible by address", refused.IP)
	}
	checkModel(t, "after ENOSPC", s, &m)
	h := s.Health()
	if !h.Degraded || !errors.Is(h.Err, ErrNoSpace) {
		t.Fatalf("Health = %+v, want degraded by ErrNoSpace", h)
	}
	// Renewals keep working from memory.
	if err := s.Touch(mac(0), t0.Add(48*time.Hour)); err != nil {
		t.Errorf("Touch on a full disk = %v", err)
	}
	m.touch(mac(0), t0.Add(48*time.Hour))
	// Still full after the backoff: the retry fails and the store stays degraded.
	time.Sleep(150 * time.Millisecond)
	if err := s.Commit(bg, refused); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Commit on a still-full disk = %v", err)
	}
	checkModel(t, "after a failed retry", s, &m)

	free(t, disk)
	took := commitUntilBack(t, s, &m, refused)
	t.Logf("commits again %v after space was freed", took.Round(time.Millisecond))
	if bad, err := s.Degraded(); bad {
		t.Errorf("still degraded after a commit succeeded: %v", err)
	}
	st := s.Stats()
	if st.Recoveries != 1 || st.Refused < 2 {
		t.Errorf("Stats = %+v", st)
	}
	for range 20 { // and keeps taking them, journal appends included
		l := bound(next, next%4000)
		next++
		mustCommit(t, s, l)
		m.lease(l)
	}
	checkModel(t, "after recovery", s, &m)
	mustClose(t, s)
	s, rep := mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if rep.Damaged() {
		t.Errorf("reopen damaged: %+v", rep)
	}
	checkModel(t, "reopened", s, &m)
}

// TestNoSpaceCycles fills and frees the disk 20 times under one store (reopening it now
// and then, on a full disk): every acknowledged lease is there at the end, and nothing
// that was refused.
func TestNoSpaceCycles(t *testing.T) {
	const cycles = 20
	disk := smallDisk(t, 1<<20)
	dir := filepath.Join(disk, "state")
	opts := Options{RetryInterval: 40 * time.Millisecond, CompactAfter: 50}
	s, _ := mustOpen(t, dir, opts)
	defer func() { s.Close() }()
	var m model
	next, refusedN := 0, 0
	var worst time.Duration
	for c := range cycles {
		fill(t, disk)
		refused := commitUntilFull(t, s, &m, &next)
		refusedN++
		if _, ok := s.Get(refused.MAC); ok {
			t.Fatalf("cycle %d: refused lease visible", c)
		}
		if err := s.Touch(m.ls[0].MAC, t0.Add(time.Duration(c)*time.Hour)); err != nil {
			t.Fatalf("cycle %d: Touch = %v", c, err)
		}
		m.touch(m.ls[0].MAC, t0.Add(time.Duration(c)*time.Hour))
		if c%4 == 3 {
			// A restart on the full disk: everything readable is served.
			if err := s.Close(); err != nil && !errors.Is(err, ErrNoSpace) {
				t.Fatalf("cycle %d: Close = %v", c, err)
			}
			if err := s.Close(); !errors.Is(err, ErrClosed) {
				t.Fatalf("second Close = %v", err)
			}
			var err error
			s, _, err = Open(dir, opts)
			if err != nil {
				t.Fatalf("cycle %d: Open on a full disk = %v", c, err)
			}
			// The renewal above may be lost with a close on a full disk, as with a power cut.
			if got, _ := s.Get(m.ls[0].MAC); !got.Expiry.Equal(m.ls[0].Expiry) {
				m.ls[0].Expiry = got.Expiry
			}
			checkModel(t, fmt.Sprintf("cycle %d: reopened on a full disk", c), s, &m)
		}
		free(t, disk)
		took := commitUntilBack(t, s, &m, refused)
		worst = max(worst, took)
		checkModel(t, fmt.Sprintf("cycle %d", c), s, &m)
	}
	mustClose(t, s)
	s2, rep := mustOpen(t, dir, Options{})
	defer mustClose(t, s2)
	if rep.Damaged() {
		t.Errorf("reopen damaged: %+v", rep)
	}
	checkModel(t, "final reopen", s2, &m)
	t.Logf("%s: %d cycles: %d commits acknowledged (each refused one retried until it was), %d refused on ENOSPC, 0 lost; slowest return to service %v",
		fsName(), cycles, next, refusedN, worst.Round(time.Millisecond))
}

// TestOpenFullDiskTornTail: a restart on a full disk whose journal ends in a torn line
// (the write that hit ENOSPC, then a crash) serves every valid record, renews, refuses
// new leases, and writes clean files by itself once space is freed.
func TestOpenFullDiskTornTail(t *testing.T) {
	disk := smallDisk(t, 256<<10)
	dir := filepath.Join(disk, "state")
	s, _ := mustOpen(t, dir, Options{})
	var m model
	for i := range 30 {
		mustCommit(t, s, bound(i, i))
		m.lease(bound(i, i))
	}
	mustClose(t, s)
	torn := leaseLine(bound(99, 99))
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn[:len(torn)/2])
	f.Close()
	fill(t, disk)

	s, rep, err := Open(dir, Options{RetryInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open on a full disk with a torn tail = %v", err)
	}
	defer s.Close()
	if !rep.TornTail || rep.Leases != 30 {
		t.Errorf("report %+v", rep)
	}
	if h := s.Health(); !h.Degraded || !errors.Is(h.Err, ErrNoSpace) {
		t.Errorf("Health = %+v, want degraded by ErrNoSpace", h)
	}
	checkModel(t, "opened on a full disk", s, &m)
	if err := s.Touch(mac(5), t0.Add(50*time.Hour)); err != nil {
		t.Errorf("Touch = %v", err)
	}
	m.touch(mac(5), t0.Add(50*time.Hour))
	time.Sleep(100 * time.Millisecond) // past the first retry, which fails
	if err := s.Commit(bg, bound(30, 30)); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Commit on a full disk = %v, want ErrNoSpace", err)
	}
	checkModel(t, "after a refused commit", s, &m)
	free(t, disk)
	waitHealthy(t, s, 5*time.Second) // no commit needed: the store retries on its own
	mustCommit(t, s, bound(31, 31))
	m.lease(bound(31, 31))
	mustClose(t, s)
	s, rep = mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if rep.Damaged() {
		t.Errorf("reopen damaged: %+v", rep)
	}
	checkModel(t, "reopened", s, &m)
}

// churnFiller fills and frees disk over and over (2-20 ms each) until stop is called,
// which frees it for good.
func churnFiller(t *testing.T, disk string, seed uint64) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	path := filepath.Join(disk, "churn-filler")
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 1))
		chunk := make([]byte, 4096)
		pause := func() bool {
			select {
			case <-quit:
				return false
			case <-time.After(time.Duration(2+rng.IntN(18)) * time.Millisecond):
				return true
			}
		}
		for {
			if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err == nil {
				for range 1 << 16 {
					if _, err := f.Write(chunk); err != nil {
						break
					}
				}
				f.Close()
			}
			if !pause() {
				return
			}
			os.Remove(path)
			if !pause() {
				return
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
		os.Remove(path)
	}
}

// TestKill9DuringChurnNoSpace is the kill -9 test on a disk that fills and frees under the
// churn: the child prints each commit acknowledged or refused (ErrNoSpace) after Commit
// returned; after each SIGKILL the store is reopened (every other round on a full disk)
// and every acknowledged lease must be there, no refused one.
func TestKill9DuringChurnNoSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	rounds := killRoundsWanted(t)
	// Room for every round's leases (up to 160, each kept) three times over: snapshot, its
	// replacement being written, and the journal; the churn fills the rest.
	disk := smallDisk(t, 512<<10+rounds*64<<10)
	dir := filepath.Join(disk, "state")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 10))
	logs := make([]*killLog, rounds)
	var commits, refused, fullOpens, degradedOpens int
	for r := range rounds {
		logs[r] = newKillLog()
		want := 20 + rng.IntN(600)
		stop := churnFiller(t, disk, seed+uint64(r))
		runKilledChild(t, dir, r, want, logs[r], true)
		stop()
		commits += logs[r].commits
		refused += logs[r].refused

		if r%2 == 1 {
			fill(t, disk)
			fullOpens++
		}
		s, rep, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen (full disk %v): %v", r, r%2 == 1, err)
		}
		if bad, _ := s.Degraded(); bad {
			degradedOpens++
		}
		t.Logf("round %d: killed after %d acknowledged, %d refused commits; reopened (full %v): %d leases, torn tail %v, degraded %v",
			r, logs[r].commits, logs[r].refused, r%2 == 1, rep.Leases, rep.TornTail, s.Health().Degraded)
		for rr := 0; rr <= r; rr++ {
			checkKilled(t, s, rr, logs[rr])
		}
		if err := s.Close(); err != nil && !errors.Is(err, ErrNoSpace) {
			t.Fatal(err)
		}
		if r%2 == 1 {
			free(t, disk)
		}
	}
	if refused == 0 {
		t.Error("no commit was refused: the disk never filled under the churn")
	}
	if t.Failed() {
		return
	}
	t.Logf("%s: %d kill -9 rounds (seed %d): %d acknowledged commits, %d refused on ENOSPC, %d reopens on a full disk (%d degraded), 0 acknowledged leases lost",
		fsName(), rounds, seed, commits, refused, fullOpens, degradedOpens)
}

package lease

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks put their state directory under $LEASE_BENCH_DIR when set (e.g. /dev/shm for
// tmpfs, /var/tmp for the disk), else in the test's temporary directory.
func benchDir(b *testing.B) string {
	parent := os.Getenv("LEASE_BENCH_DIR")
	if parent == "" {
		return b.TempDir()
	}
	d, err := os.MkdirTemp(parent, "lease-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// BenchmarkCommit measures durable commits with 1, 8 and 64 concurrent committers; ns/op is
// per commit. syncs/commit below 1 is group commit at work.
func BenchmarkCommit(b *testing.B) {
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("committers=%d", c), func(b *testing.B) {
			s, _ := mustOpen(b, benchDir(b), Options{})
			defer mustClose(b, s)
			before := s.Stats()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range c {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						k := i % 60000
						l := Lease{MAC: mac(k), IP: ip(k), Expiry: t0.Add(time.Hour), Hostname: "bench", State: Bound}
						if err := s.Commit(context.Background(), l); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			commits := float64(st.Commits - before.Commits)
			b.ReportMetric(float64(st.Syncs-before.Syncs)/commits, "syncs/commit")
			b.ReportMetric(commits/float64(st.Batches-before.Batches), "commits/batch")
			b.ReportMetric(commits/b.Elapsed().Seconds(), "commits/s")
		})
	}
}

// BenchmarkTouch is the renewal path: no disk wait.
func BenchmarkTouch(b *testing.B) {
	s, _ := mustOpen(b, benchDir(b), Options{})
	defer mustClose(b, s)
	for i := range 1000 {
		mustCommit(b, s, bound(i, i))
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Touch(mac(i%1000), t0.Add(time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLeases(n int) []Lease {
	ls := make([]Lease, n)
	for i := range ls {
		ls[i] = Lease{MAC: mac(i), IP: ip(i), Expiry: t0.Add(time.Duration(i) * time.Second),
			Hostname: fmt.Sprintf("node-%05d", i), ClientID: append([]byte{1}, mac(i)...), State: Bound}
	}
	return ls
}

// prepare10k writes a clean state directory holding 10 000 leases.
func prepare10k(tb testing.TB, dir string) {
	writeFile(tb, dir, snapName, snapText(1, benchLeases(10000)...))
	writeFile(tb, dir, journalName, journalText(2))
}

// BenchmarkLoad10k is a restart: Open (read, check, index) and Close of 10 000 leases.
func BenchmarkLoad10k(b *testing.B) {
	dir := benchDir(b)
	prepare10k(b, dir)
	fi, _ := os.Stat(dir + "/" + snapName)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		s, rep, err := Open(dir, Options{})
		if err != nil || rep.Leases != 10000 || rep.Damaged() {
			b.Fatalf("%v %+v", err, rep)
		}
		s.Close()
	}
}

// BenchmarkParseLine decodes one lease line.
func BenchmarkParseLine(b *testing.B) {
	line := appendRecord(nil, &record{op: opLease, lease: benchLeases(1)[0]})
	line = line[:len(line)-1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeap10k reports the live heap a store of 10 000 leases holds.
func BenchmarkHeap10k(b *testing.B) {
	dir := benchDir(b)
	prepare10k(b, dir)
	var heap uint64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s, _, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap = m1.HeapAlloc - m0.HeapAlloc
		if s.Len() != 10000 {
			b.Fatal(s.Len())
		}
		s.Close()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(heap)/10000, "heap-B/lease")
}

const rssEnv = "PXE_EDGE_LEASE_RSS_DIR"

// TestRSSChild is the child side of BenchmarkRSS10k.
func TestRSSChild(t *testing.T) {
	dir := os.Getenv(rssEnv)
	if dir == "" {
		t.Skip("helper process for BenchmarkRSS10k")
	}
	runtime.GC()
	base := procStatus("VmRSS")
	s, _, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Some churn, as a running server would have.
	for i := range 1000 {
		if err := s.Touch(mac(i), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, s, bound(20000, 20000))
	runtime.GC()
	fmt.Printf("RSS base=%d loaded=%d hwm=%d leases=%d\n", base, procStatus("VmRSS"), procStatus("VmHWM"), s.Len())
	s.Close()
}

// procStatus returns a /proc/self/status field in bytes.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// BenchmarkRSS10k re-executes the test binary, loads 10 000 leases in it and reports the
// whole child process's resident set (an upper bound for the store's share of the daemon:
// the test binary carries the testing package too).
func BenchmarkRSS10k(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("no /proc")
	}
	dir := benchDir(b)
	prepare10k(b, dir)
	var base, loaded, hwm int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), rssEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		var n int
		i := strings.Index(string(out), "RSS ")
		if i < 0 {
			b.Fatalf("no RSS line:\n%s", out)
		}
		if _, err := fmt.Sscanf(string(out[i:]), "RSS base=%d loaded=%d hwm=%d leases=%d", &base, &loaded, &hwm, &n); err != nil || n != 10001 {
			b.Fatalf("%v %d\n%s", err, n, out)
		}
	}
	b.ReportMetric(float64(base)/(1<<20), "base-RSS-MiB")
	b.ReportMetric(float64(loaded)/(1<<20), "RSS-MiB")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
}

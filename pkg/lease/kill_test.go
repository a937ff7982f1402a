package lease

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The kill -9 test: a child process (this test binary re-executed) commits leases from
// several goroutines and prints each one only after Commit returned. The parent SIGKILLs it
// mid-churn, reopens the store and checks that every printed lease is there, on its address.

const (
	killEnvDir   = "PXE_EDGE_LEASE_KILL_DIR"
	killEnvRound = "PXE_EDGE_LEASE_KILL_ROUND"
	killWorkers  = 4
	killMACs     = 40  // MACs per worker; each is recommitted every killMACs iterations
	killAddrs    = 200 // addresses per worker; > killMACs+1 so live leases never collide
	killRounds   = 6
)

func killMAC(round, g, j int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, byte(round), byte(g), 0, byte(j)}
}

func killIP(round, g, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(round), byte(g), byte(i % killAddrs)})
}

// TestKillChild is the child side; it runs only when the parent sets killEnvDir.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killEnvDir)
	if dir == "" {
		t.Skip("helper process for TestKill9DuringChurn")
	}
	round, _ := strconv.Atoi(os.Getenv(killEnvRound))
	// Small compaction threshold and flush interval so kills land in every phase; a sync
	// as slow as an SD card's keeps records queued long enough that a store acknowledging
	// before its write would be caught.
	slowSync := func(f *os.File) error { time.Sleep(2 * time.Millisecond); return datasync(f) }
	s, _, err := Open(dir, Options{CompactAfter: 64, FlushInterval: 5 * time.Millisecond, MaxPendingTouches: 8, Sync: slowSync})
	if err != nil {
		fmt.Println("OPEN-ERROR", err)
		os.Exit(3)
	}
	var out sync.Mutex
	stop := time.After(20 * time.Second) // the parent kills long before; never run away
	done := make(chan struct{})
	for g := range killWorkers {
		go func() {
			line := make([]byte, 0, 64)
			for i := 0; ; i++ {
				l := Lease{MAC: killMAC(round, g, i%killMACs), IP: killIP(round, g, i), Expiry: time.Now().Add(time.Hour),
					Hostname: "churn-" + strconv.Itoa(i), State: Bound}
				if err := s.Commit(context.Background(), l); err != nil {
					fmt.Println("COMMIT-ERROR", err)
					os.Exit(3)
				}
				// One write(2) per line: a pipe write this small is atomic, so the parent
				// never sees half a line from a killed child.
				line = fmt.Appendf(line[:0], "C %d %d\n", g, i)
				out.Lock()
				os.Stdout.Write(line)
				out.Unlock()
				if i > 0 && i%3 == 0 {
					s.Touch(killMAC(round, g, (i-1)%killMACs), time.Now().Add(2*time.Hour))
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	<-stop
	close(done)
	os.Exit(4)
}

func TestKill9DuringChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	// last[round][g] = highest iteration printed by worker g; -1 when none.
	var last [killRounds][killWorkers]int
	for r := range killRounds {
		for g := range killWorkers {
			last[r][g] = -1
		}
		want := 20 + rng.IntN(600) // kill after this many acknowledged commits
		n := runKilledChild(t, dir, r, want, &last[r])
		t.Logf("round %d: killed after %d acknowledged commits (target %d)", r, n, want)

		s, rep, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", r, err)
		}
		t.Logf("round %d: reopened: %d leases, torn tail %v, problems %v", r, rep.Leases, rep.TornTail, rep.Problems)
		for rr := 0; rr <= r; rr++ {
			checkKilled(t, s, rr, &last[rr])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runKilledChild starts the child for round r, SIGKILLs it once want commits were printed
// (or after 5 s), and records the printed iterations. It returns how many were printed.
func runKilledChild(t *testing.T, dir string, r, want int, last *[killWorkers]int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnvDir+"="+dir, killEnvRound+"="+strconv.Itoa(r))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := make(chan struct{})
	var once sync.Once
	kill := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGKILL); close(killed) }) }
	timer := time.AfterFunc(5*time.Second, kill)
	defer timer.Stop()

	n := 0
	var errLine string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var g, i int
		if _, err := fmt.Sscanf(sc.Text(), "C %d %d", &g, &i); err != nil {
			if errLine == "" && len(sc.Text()) > 0 && sc.Text()[0] != '=' {
				errLine = sc.Text()
			}
			continue
		}
		if i != last[g]+1 {
			t.Errorf("round %d worker %d: printed %d after %d", r, g, i, last[g])
		}
		last[g] = i
		n++
		if n == want {
			kill()
		}
	}
	io.Copy(io.Discard, stdout)
	kill()
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child did not die by SIGKILL: %v %q", r, err, errLine)
	}
	return n
}

// checkKilled verifies round r's leases: each MAC's lease is the last one printed for it,
// or the one its worker had in flight when killed (durable but not yet printed).
func checkKilled(t *testing.T, s *Store, r int, last *[killWorkers]int) {
	t.Helper()
	for g := range killWorkers {
		inflight := last[g] + 1
		for j := range killMACs {
			// Highest printed iteration for MAC j.
			i := last[g] - ((last[g]-j)%killMACs+killMACs)%killMACs
			if i < 0 {
				continue // never acknowledged
			}
			l, ok := s.Get(killMAC(r, g, j))
			if !ok {
				t.Errorf("round %d: acknowledged lease of %v (iteration %d) lost", r, killMAC(r, g, j), i)
				continue
			}
			okIP := l.IP == killIP(r, g, i) || (inflight%killMACs == j && l.IP == killIP(r, g, inflight))
			if !okIP || l.State != Bound {
				t.Errorf("round %d: %v has %v %v, acknowledged %v (iteration %d)", r, l.MAC, l.IP, l.State, killIP(r, g, i), i)
			}
		}
	}
}

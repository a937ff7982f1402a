package lease

import (
	"bufio"
	"context"
	"errors"
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
	killEnvDir     = "PXE_EDGE_LEASE_KILL_DIR"
	killEnvRound   = "PXE_EDGE_LEASE_KILL_ROUND"
	killEnvNoSpace = "PXE_EDGE_LEASE_KILL_NOSPACE" // the child expects refusals for a full disk
	killEnvRounds  = "PXE_EDGE_LEASE_KILL_ROUNDS"  // rounds per test (bench/reliability-lease.sh: 100)
	killWorkers    = 4
	killMACs       = 40  // MACs per worker; each is recommitted every killMACs iterations
	killAddrs      = 200 // addresses per worker; > killMACs+1 so live leases never collide
	killRounds     = 6
)

// killRoundsWanted is killRounds unless the environment asks for more.
func killRoundsWanted(t *testing.T) int {
	if v := os.Getenv(killEnvRounds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			t.Fatalf("%s=%q", killEnvRounds, v)
		}
		return n
	}
	return killRounds
}

// killLog is what the parent read from one child: per worker, the last iteration printed
// (acknowledged or refused) and, per MAC, the last acknowledged one (-1: none).
type killLog struct {
	last    [killWorkers]int
	acked   [killWorkers][killMACs]int
	commits int // acknowledged
	refused int
}

func newKillLog() *killLog {
	var l killLog
	for g := range killWorkers {
		l.last[g] = -1
		for j := range killMACs {
			l.acked[g][j] = -1
		}
	}
	return &l
}

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
	noSpace := os.Getenv(killEnvNoSpace) != ""
	s, _, err := Open(dir, Options{CompactAfter: 64, FlushInterval: 5 * time.Millisecond, MaxPendingTouches: 8, Sync: slowSync,
		RetryInterval: 20 * time.Millisecond})
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
				err := s.Commit(context.Background(), l)
				if err != nil && (!noSpace || !errors.Is(err, ErrNoSpace)) {
					fmt.Println("COMMIT-ERROR", err)
					os.Exit(3)
				}
				// One write(2) per line: a pipe write this small is atomic, so the parent
				// never sees half a line from a killed child.
				if err != nil {
					line = fmt.Appendf(line[:0], "F %d %d\n", g, i)
					time.Sleep(time.Millisecond) // a DHCP client waits before it retries
				} else {
					line = fmt.Appendf(line[:0], "C %d %d\n", g, i)
				}
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
	rounds := killRoundsWanted(t)
	logs := make([]*killLog, rounds)
	commits := 0
	for r := range rounds {
		logs[r] = newKillLog()
		want := 20 + rng.IntN(600) // kill after this many acknowledged commits
		runKilledChild(t, dir, r, want, logs[r], false)
		commits += logs[r].commits
		t.Logf("round %d: killed after %d acknowledged commits (target %d)", r, logs[r].commits, want)

		s, rep, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", r, err)
		}
		t.Logf("round %d: reopened: %d leases, torn tail %v, problems %v", r, rep.Leases, rep.TornTail, rep.Problems)
		for rr := 0; rr <= r; rr++ {
			checkKilled(t, s, rr, logs[rr])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !t.Failed() {
		t.Logf("%d kill -9 rounds: %d acknowledged commits, 0 acknowledged leases lost", rounds, commits)
	}
}

// runKilledChild starts the child for round r, SIGKILLs it once want commits were
// acknowledged (or after 5 s), and records what it printed in log.
func runKilledChild(t *testing.T, dir string, r, want int, log *killLog, noSpace bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnvDir+"="+dir, killEnvRound+"="+strconv.Itoa(r))
	if noSpace {
		cmd.Env = append(cmd.Env, killEnvNoSpace+"=1")
	}
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

	var errLine string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var what byte
		var g, i int
		if _, err := fmt.Sscanf(sc.Text(), "%c %d %d", &what, &g, &i); err != nil || (what != 'C' && what != 'F') || g < 0 || g >= killWorkers {
			if errLine == "" && len(sc.Text()) > 0 && sc.Text()[0] != '=' {
				errLine = sc.Text()
			}
			continue
		}
		if i != log.last[g]+1 {
			t.Errorf("round %d worker %d: printed %d after %d", r, g, i, log.last[g])
		}
		log.last[g] = i
		if what == 'F' {
			log.refused++
			continue
		}
		log.acked[g][i%killMACs] = i
		log.commits++
		if log.commits == want {
			kill()
		}
	}
	io.Copy(io.Discard, stdout)
	kill()
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child did not die by SIGKILL: %v %q", r, err, errLine)
	}
}

// checkKilled verifies round r's leases: each MAC's lease is the last one acknowledged for
// it, or the one its worker had in flight when killed (durable but not yet printed); never
// one that was refused.
func checkKilled(t *testing.T, s *Store, r int, log *killLog) {
	t.Helper()
	for g := range killWorkers {
		inflight := log.last[g] + 1
		for j := range killMACs {
			i := log.acked[g][j]
			l, ok := s.Get(killMAC(r, g, j))
			if i < 0 {
				if ok && !(inflight%killMACs == j && l.IP == killIP(r, g, inflight)) {
					t.Errorf("round %d: %v never acknowledged but holds %v", r, l.MAC, l.IP)
				}
				continue
			}
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

package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestNetlabStartSurvivesDo reproduces an internal/netlab bug: NS.Start sets Pdeathsig,
// which Linux ties to the OS thread that forked the child, not to the process; NS.Do ends
// its goroutine on a locked thread, which Go then destroys. When that thread is the one
// that had forked a Start'ed process, the process gets SIGKILL (golang/go#27505). In the
// e2e tests it killed pxe-edge right after a scripted client's NS.Do.
//
// It fails today, so it runs only with E2E_REPRO=1 until internal/netlab is fixed (e.g. no
// Pdeathsig, or Start forking on a thread that stays locked for the process's life); the
// scenarios work around it with startPinned.
func TestNetlabStartSurvivesDo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Getenv("E2E_REPRO") == "" {
		t.Skip("reproduction of an internal/netlab bug; run with E2E_REPRO=1")
	}
	l := netlab.New(t)
	ns := l.Namespace("a")
	var procs []*netlab.Proc
	for i := 0; i < 20; i++ {
		procs = append(procs, ns.Start("sleep", "60"))
		for j := 0; j < 5; j++ {
			if err := ns.Do(func() error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	dead := 0
	for _, p := range procs {
		select {
		case <-p.Done():
			dead++
		default:
		}
	}
	if dead > 0 {
		t.Errorf("%d of %d processes started with NS.Start were killed by later NS.Do calls", dead, len(procs))
	}
}

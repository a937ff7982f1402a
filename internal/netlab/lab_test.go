package netlab

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestVethPing(t *testing.T) {
	l := New(t)
	a, b := l.Namespace("a"), l.Namespace("b")
	l.Veth(a, "eth0", "10.99.0.1/24", b, "eth0", "10.99.0.2/24")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := a.Run(ctx, "ping", "-c", "1", "-W", "2", "10.99.0.2")
	if err != nil {
		t.Fatalf("ping across the veth pair: %v\n%s", err, out)
	}
}

func TestBridgeAndDo(t *testing.T) {
	l := New(t)
	sw, c1, c2 := l.Namespace("sw"), l.Namespace("c1"), l.Namespace("c2")
	sw.Bridge("br0", "")
	l.Veth(sw, "p1", "", c1, "eth0", "10.99.1.1/24")
	l.Veth(sw, "p2", "", c2, "eth0", "10.99.1.2/24")
	sw.AttachToBridge("p1", "br0")
	sw.AttachToBridge("p2", "br0")
	var links string
	err := c1.Do(func() error {
		out, err := run(context.Background(), "ip", "-o", "link")
		links = string(out)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(links, "eth0") {
		t.Fatalf("Do did not run inside the namespace; links:\n%s", links)
	}
	p := c1.Start("ping", "-c", "1", "-W", "3", "10.99.1.2")
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("ping did not finish")
	}
	if p.Err() != nil {
		t.Fatalf("ping across the bridge: %v\n%s", p.Err(), p.Output())
	}
}

// TestStartSurvivesDo: a process started with Start must live on after later Do calls retire
// their locked threads (Pdeathsig follows the forking thread, golang/go#27505). Before Start
// forked from a dedicated thread, 18–20 of these 20 processes were killed.
func TestStartSurvivesDo(t *testing.T) {
	l := New(t)
	ns := l.Namespace("a")
	var procs []*Proc
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
		t.Errorf("%d of %d processes started with Start were killed by later Do calls", dead, len(procs))
	}
}

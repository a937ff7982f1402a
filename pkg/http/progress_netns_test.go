//go:build linux

package httpd

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// TestProgressFollowsClient checks that HTTP progress reports what a real, slow client has
// received rather than what the server queued in the kernel. The server namespace lets TCP
// send buffers grow to 4 MiB (a tuned box, or any long fat path), so the kernel holds seconds
// of a 2 MiB/s download that the client has not seen yet; counting handed-over bytes would
// run that far ahead, and would announce "done" seconds early.
func TestProgressFollowsClient(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	lab := netlab.New(t)
	netlab.RequireCommands(t, "curl", "sysctl", "tc")
	srv, cli := lab.Namespace("psrv"), lab.Namespace("pcli")
	lab.Veth(srv, "eth0", "10.51.0.1/24", cli, "eth0", "10.51.0.2/24")
	srv.MustRun("sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 4194304 4194304")
	// What the client's kernel acknowledged is all a server can know. Cap the client's
	// receive buffer at 1 MiB, as firmware TCP stacks keep windows far smaller than that;
	// this host's Linux default (32 MiB) would let curl's kernel ack the whole file while
	// curl itself is rate-limited.
	cli.MustRun("sysctl", "-q", "-w", "net.ipv4.tcp_rmem=4096 131072 1048576")
	// curl 7.88's --limit-rate checks its rate about once a second and reads at line speed
	// in between: over a bare veth that is the whole file in one burst. A 4 MB/s link keeps
	// its bursts to a board's pace while curl's limit sets the average.
	srv.MustRun("tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "32mbit", "burst", "64k", "latency", "20ms")

	const size = 10 << 20
	const small = 3 << 20 // fits in the server's socket buffer whole
	dir := t.TempDir()
	for name, n := range map[string]int64{"big.img": size, "small.img": small} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(n); err != nil { // sparse: no disk writes
			t.Fatal(err)
		}
		f.Close()
	}

	var ln net.Listener
	if err := srv.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "10.51.0.1:80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus()
	ch, unsub := bus.Subscribe(1024)
	defer unsub()
	logs := &logBuffer{}
	s, err := New(Config{Root: dir, Events: bus, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln)

	// Slack for "close to the client": what the client's kernel holds unread (its receive
	// window, well under 1 MiB at this rate on a fresh connection), one progress interval
	// at the client's rate, and scheduling noise on a shared 2-core machine. The old
	// handed-to-the-kernel count runs ~4 MiB ahead here.
	const rate = 2 << 20
	const slack = 1<<20 + rate/4 + 256<<10

	out := filepath.Join(t.TempDir(), "big.img")
	curl := cli.Start("curl", "-sS", "--limit-rate", "2M", "--max-time", "30", "-o", out, "-w", "%{size_download}\n", "http://10.51.0.1/big.img")
	received := func() int64 {
		st, err := os.Stat(out)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	var last, maxAhead int64
	var progress int
	curlDone := curl.Done()
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case e := <-ch:
			got := received()
			if e.Bytes < last || e.Bytes > e.Total {
				t.Errorf("%v: bytes %d after %d (total %d)", e.Kind, e.Bytes, last, e.Total)
			}
			last = e.Bytes
			switch e.Kind {
			case events.TransferProgress:
				progress++
				maxAhead = max(maxAhead, e.Bytes-got)
				if e.Bytes > got+slack {
					t.Errorf("progress %d bytes at %v while the client has %d: %d ahead (slack %d)",
						e.Bytes, e.Duration.Round(time.Millisecond), got, e.Bytes-got, slack)
				}
			case events.TransferDone:
				if e.Bytes != size {
					t.Errorf("done with %d of %d bytes", e.Bytes, size)
				}
				if got < size-slack {
					t.Errorf("done at %v while the client has %d of %d bytes", e.Duration.Round(time.Millisecond), got, size)
				}
				break wait
			case events.TransferFailed:
				t.Fatalf("failed: %+v", e)
			}
		case <-curlDone:
			// The done event may trail curl's exit a little; not by seconds.
			curlDone, deadline = nil, time.After(3*time.Second)
		case <-deadline:
			t.Fatalf("no done event within 30 s; curl: %s", curl.Output())
		}
	}
	t.Logf("%d progress events, at most %d bytes ahead of what curl had written", progress, maxAhead)
	if progress < 4 {
		t.Errorf("only %d progress events for a ~5 s download", progress)
	}
	select {
	case <-curl.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("curl did not finish")
	}
	if strings.TrimSpace(curl.Output()) != strconv.Itoa(size) {
		t.Errorf("curl: %v %q", curl.Err(), curl.Output())
	}

	// Clients that give up mid-download: curl stops after a while and resets the
	// connection. The failed event must count what the client acknowledged, not what the
	// server had queued for it. For big.img the server is still writing when curl quits;
	// small.img is all in the kernel within milliseconds, so the handler is waiting for the
	// tail to be acknowledged.
	abort := func(name, maxTime, wantErr string) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		outb, _ := cli.Run(rctx, "curl", "-sS", "--limit-rate", "2M", "--max-time", maxTime, "-o", "/dev/null", "-w", "%{size_download}\n", "http://10.51.0.1/"+name)
		m := regexp.MustCompile(`(?m)^(\d+)$`).FindStringSubmatch(string(outb))
		if m == nil {
			t.Fatalf("curl output: %q", outb)
		}
		clientGot, _ := strconv.ParseInt(m[1], 10, 64)
		var failed events.Event
		timeout := time.After(10 * time.Second)
		for failed.Kind != events.TransferFailed {
			select {
			case e := <-ch:
				if e.Kind == events.TransferDone {
					t.Fatalf("%s: aborted download reported done: %+v", name, e)
				}
				failed = e
			case <-timeout:
				t.Fatalf("%s: no failed event within 10 s of curl giving up", name)
			}
		}
		handed := handedFromLog(t, logs.String(), name)
		t.Logf("%s: client read %d, server handed %d to the kernel, failed event says %d (%s)", name, clientGot, handed, failed.Bytes, failed.Err)
		if failed.Bytes >= handed {
			t.Errorf("%s: failed event claims %d bytes, all %d handed to the kernel", name, failed.Bytes, handed)
		}
		if failed.Bytes > clientGot+slack || failed.Bytes <= 0 {
			t.Errorf("%s: failed event claims %d bytes; the client read %d", name, failed.Bytes, clientGot)
		}
		if !strings.Contains(failed.Err, wantErr) {
			t.Errorf("%s: error %q, want %q", name, failed.Err, wantErr)
		}
	}
	abort("big.img", "1.5", "closed the connection early")
	abort("small.img", "0.5", "did not acknowledge the end")
}

// handedFromLog returns the bytes of the last access-log line for name: what the server
// handed to the kernel.
func handedFromLog(t *testing.T, logs, name string) int64 {
	t.Helper()
	ms := regexp.MustCompile(`path=/`+regexp.QuoteMeta(name)+` status=200 bytes=(\d+)`).FindAllStringSubmatch(logs, -1)
	if len(ms) == 0 {
		t.Fatalf("no access log line:\n%s", logs)
	}
	n, _ := strconv.ParseInt(ms[len(ms)-1][1], 10, 64)
	return n
}

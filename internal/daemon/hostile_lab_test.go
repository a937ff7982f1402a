package daemon_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// hostileCount is how many slowloris HTTP connections and silent TFTP requests
// TestHostileNeighbours sends: PXE_EDGE_HOSTILE, default 60 (bench/reliability.sh: 200).
func hostileCount(t *testing.T) int {
	if s := os.Getenv("PXE_EDGE_HOSTILE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("PXE_EDGE_HOSTILE=%q: want 1..1000", s)
		}
		return n
	}
	return 60
}

// A neighbour holding slowloris HTTP connections (headers one byte at a time, or a body
// announced and never sent) and sending TFTP requests it never answers, from many
// addresses, does not keep a real client from fetching its boot files over TFTP and HTTP.
func TestHostileNeighbours(t *testing.T) {
	netlab.RequireCommands(t, "tftp", "curl")
	n := hostileCount(t)
	lb := newLab(t, "10.60.22.1/16", "10.60.22.2/16")
	// The hostile sources: one address each, so per-client caps do not stop them alone.
	srcs := make([]netip.Addr, 0, n)
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, 60, 23 + byte(i/250), byte(1 + i%250)})
		lb.cli.MustRun("ip", "addr", "add", a.String()+"/16", "dev", "eth0")
		srcs = append(srcs, a)
	}
	dir, sum := netbootDir(t, "boot.bin", 256<<10)
	p := lb.srv.Start(binary(t), "-a", dir, "--http", "--http-port", "8080")
	waitFor(t, p, "msg=serving")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i, src := range srcs {
		wg.Add(2)
		go func() { defer wg.Done(); slowloris(ctx, lb.cli, src, i%2 == 0) }()
		go func() { defer wg.Done(); silentTFTP(ctx, lb.cli, src) }()
	}
	time.Sleep(2 * time.Second) // let them take every slot

	start := time.Now()
	if got, err := tftpGet(t, lb.cli, "10.60.22.1", "boot.bin"); err != nil || got != sum {
		t.Fatalf("TFTP for the real client under attack: %s %v\n%s", got, err, p.Output())
	}
	tftpTook := time.Since(start)
	start = time.Now()
	cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer ccancel()
	out, err := lb.cli.Run(cctx, "curl", "-sf", "--max-time", "50", "-o", "/dev/null", "-w", "%{http_code}", "http://10.60.22.1:8080/boot.bin")
	if err != nil || string(out) != "200" {
		t.Fatalf("HTTP for the real client under attack: %q %v\n%s", out, err, p.Output())
	}
	t.Logf("%d hostile sources (slowloris HTTP + silent TFTP): real client's TFTP in %v, HTTP in %v",
		n, tftpTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	cancel()
	wg.Wait()
	stopOK(t, p)
}

// slowloris keeps one HTTP connection from src busy until ctx ends, reconnecting when the
// server closes it: either a request head sent a byte a second, or a POST announcing a body
// it never sends.
func slowloris(ctx context.Context, ns *netlab.NS, src netip.Addr, body bool) {
	for ctx.Err() == nil {
		var c net.Conn
		err := ns.Do(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
			c, err = d.DialContext(ctx, "tcp4", "10.60.22.1:8080")
			return err
		})
		if err != nil {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		head := "GET /boot.bin HTTP/1.1\r\nHost: x\r\nX-Slow: "
		if body {
			head = "POST /boot.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
		}
		_, err = c.Write([]byte(head))
		for err == nil && ctx.Err() == nil {
			sleepCtx(ctx, time.Second)
			_, err = c.Write([]byte("a"))
		}
		c.Close()
	}
}

// silentTFTP sends a read request from src every second and never answers what comes back.
func silentTFTP(ctx context.Context, ns *netlab.NS, src netip.Addr) {
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: src.AsSlice()})
		return err
	}); err != nil {
		return
	}
	defer c.Close()
	rrq := tftp.AppendRequest(nil, &tftp.RequestPacket{Op: tftp.OpRRQ, Filename: "boot.bin", Mode: "octet"})
	for i := 0; ctx.Err() == nil && i < 600; i++ {
		_, _ = c.WriteToUDPAddrPort(rrq, netip.MustParseAddrPort("10.60.22.1:69"))
		sleepCtx(ctx, time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

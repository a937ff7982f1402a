package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// The TFTP and HTTP tuning flags (cmd/pxe-edge/FLAGS.md) checked on the wire: the real
// binary in a namespace lab, real clients (atftp, tftp-hpa, curl) and, where a client has
// to misbehave on purpose (stop ACKing, repeat an ACK), a raw UDP socket opened inside the
// client namespace. Subnets: 10.60.61.0/24 to 10.60.65.0/24.

// tunStart runs pxe-edge serving dir with extra flags in the lab's server namespace and
// waits until it serves.
func tunStart(t *testing.T, lb *lab, dir string, extra ...string) *netlab.Proc {
	t.Helper()
	p := lb.srv.Start(append([]string{binary(t), "-a", dir, "--state-dir", t.TempDir()}, extra...)...)
	waitFor(t, p, "msg=serving")
	return p
}

// tunAtftp fetches name with atftp (trace on) asking for opts, and returns the trace and
// the sha256 of what arrived.
func tunAtftp(t *testing.T, ns *netlab.NS, server, port, name string, opts ...string) (string, string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "got")
	args := []string{"atftp", "--trace", "--verbose"}
	for _, o := range opts {
		args = append(args, "--option", o)
	}
	args = append(args, "-g", "-r", name, "-l", dst, server, port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, args...)
	if err != nil {
		t.Fatalf("atftp: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return string(out), hex.EncodeToString(sum[:])
}

var (
	tunOACKRE = regexp.MustCompile(`received OACK <([^>]*)>`)
	tunOptRE  = regexp.MustCompile(`(\w+): (\d+)`)
	tunACKRE  = regexp.MustCompile(`sent ACK <block: (\d+)>`)
)

// tunOACK returns the options of the OACK atftp received, as its trace prints them.
func tunOACK(t *testing.T, trace string) map[string]string {
	t.Helper()
	m := tunOACKRE.FindStringSubmatch(trace)
	if m == nil {
		t.Fatalf("no OACK in atftp's trace:\n%.2000s", trace)
	}
	opts := map[string]string{}
	for _, o := range tunOptRE.FindAllStringSubmatch(m[1], -1) {
		opts[o[1]] = o[2]
	}
	return opts
}

// --tftp-windowsize-max 4: a client asking for windowsize 16 is granted 4 in the OACK and
// is sent 4 blocks per window (it ACKs block 4 first), and the file arrives intact. The
// same request to a daemon without the flag is granted 16.
func TestTuningTFTPWindowsizeMax(t *testing.T) {
	netlab.RequireCommands(t, "atftp")
	lb := newLab(t, "10.60.61.2/24", "10.60.61.50/24")
	dir, sum := netbootDir(t, "big.bin", 200_000)
	tunStart(t, lb, dir, "--tftp-windowsize-max", "4")
	tunStart(t, lb, dir, "--tftp-port", "1069")
	for _, c := range []struct {
		port, want string
	}{{"69", "4"}, {"1069", "16"}} {
		trace, got := tunAtftp(t, lb.cli, "10.60.61.2", c.port, "big.bin", "windowsize 16", "blksize 1468")
		if got != sum {
			t.Errorf("port %s: sha256 %s, want %s", c.port, got, sum)
		}
		opts := tunOACK(t, trace)
		if opts["windowsize"] != c.want || opts["blksize"] != "1468" {
			t.Errorf("port %s: OACK %v, want windowsize %s blksize 1468", c.port, opts, c.want)
		}
		// The window on the wire: atftp ACKs once per window, so its first ACK after the
		// OACK's ACK 0 names the window's last block.
		acks := tunACKRE.FindAllStringSubmatch(trace, 2)
		if len(acks) < 2 || acks[0][1] != "0" || acks[1][1] != c.want {
			t.Errorf("port %s: first ACKs %v, want block 0 then block %s", c.port, acks, c.want)
		}
	}
}

// tunUDP opens a UDP socket inside ns for a hand-driven TFTP client; closed at cleanup.
func tunUDP(t *testing.T, ns *netlab.NS) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp4", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tunPacket is one TFTP packet the hand-driven client received.
type tunPacket struct {
	at    time.Time
	from  netip.AddrPort
	op    tftp.Opcode
	block uint16 // DATA/ACK block
}

// tunRead reads one packet, waiting at most d; ok is false on timeout.
func tunRead(t *testing.T, c *net.UDPConn, d time.Duration) (tunPacket, bool) {
	t.Helper()
	var buf [2048]byte
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFromUDPAddrPort(buf[:])
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return tunPacket{}, false
		}
		t.Fatal(err)
	}
	var p tftp.Packet
	if err := p.Decode(buf[:n]); err != nil {
		t.Fatalf("TFTP packet from %v: %v: % x", from, err, buf[:n])
	}
	return tunPacket{at: time.Now(), from: from, op: p.Op, block: p.Block}, true
}

// tunFirstData sends an RRQ for name to server:69 and returns the first DATA packet.
func tunFirstData(t *testing.T, c *net.UDPConn, server, name string) tunPacket {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(tftp.AppendRequest(nil, &tftp.RequestPacket{Op: tftp.OpRRQ, Filename: name, Mode: "octet"}), netip.MustParseAddrPort(server+":69")); err != nil {
		t.Fatal(err)
	}
	p, ok := tunRead(t, c, 5*time.Second)
	if !ok || p.op != tftp.OpDATA || p.block != 1 {
		t.Fatalf("want DATA 1 after the RRQ, got %+v (ok %v)", p, ok)
	}
	return p
}

// --tftp-max 1: while one transfer is in flight (a client that took DATA 1 and stopped
// ACKing) a second client's (tftp-hpa) request waits in the queue, unanswered; once the
// first client ends its transfer, the queued one starts and completes.
func TestTuningTFTPMax(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	lb := newLab(t, "10.60.62.2/24", "10.60.62.50/24")
	dir, sum := netbootDir(t, "big.bin", 100_000)
	p := tunStart(t, lb, dir, "--tftp-max", "1", "--debug", "tftp")
	c := tunUDP(t, lb.cli)
	first := tunFirstData(t, c, "10.60.62.2", "big.bin")

	// A second request while the one slot is taken waits for it (PXE firmware takes an
	// ERROR as a failed boot): it is queued, never refused.
	type result struct {
		sum string
		err error
	}
	second := make(chan result, 1)
	go func() {
		got, err := tftpGet(t, lb.cli, "10.60.62.2", "big.bin")
		second <- result{got, err}
	}()
	waitFor(t, p, `msg="tftp request queued" svc=tftp client=10.60.62.50:`)
	if strings.Contains(p.Output(), "server busy") {
		t.Fatalf("a request past --tftp-max was refused:\n%s", p.Output())
	}

	// The first client ends its transfer (ERROR 0 to the transfer's port); its slot frees
	// and the queued request starts.
	if _, err := c.WriteToUDPAddrPort(tftp.AppendError(nil, tftp.ErrUndefined, "enough"), first.from); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, "tftp transfer ended by client")
	if r := <-second; r.err != nil || r.sum != sum {
		t.Fatalf("the queued transfer: got %s %v, want %s\n%s", r.sum, r.err, sum, p.Output())
	}
	stopOK(t, p)
}

// --tftp-timeout 500ms --tftp-retries 2: a client that ACKs DATA 1 and then stops gets
// DATA 2 exactly 1 + 2 times, the second gap about twice the first (backoff doubles), and
// the daemon logs the transfer as failed for want of an ACK. (A client that never answers
// at all is let go sooner, whatever --tftp-retries says: pkg/tftp's TestSilentClientLetGo.)
// Gaps are checked against generous lower bounds only: a loaded machine makes them longer,
// never shorter.
func TestTuningTFTPTimeoutRetries(t *testing.T) {
	lb := newLab(t, "10.60.63.2/24", "10.60.63.50/24")
	dir, _ := netbootDir(t, "big.bin", 100_000)
	p := tunStart(t, lb, dir, "--tftp-timeout", "500ms", "--tftp-retries", "2")
	c := tunUDP(t, lb.cli)
	first := tunFirstData(t, c, "10.60.63.2", "big.bin")
	if _, err := c.WriteToUDPAddrPort(tftp.AppendAck(nil, 1), first.from); err != nil {
		t.Fatal(err)
	}
	var data []tunPacket
	// The budget is 0.5 + 1 + 2 s; read until the daemon gives up, bounded at 15 s.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.Output(), `msg="tftp transfer failed"`) && time.Now().Before(deadline) {
		pk, ok := tunRead(t, c, 200*time.Millisecond)
		if !ok {
			continue
		}
		if pk.op != tftp.OpDATA || pk.from != first.from {
			t.Fatalf("unexpected packet %+v", pk)
		}
		data = append(data, pk)
	}
	// Anything still queued after the failure line counts too.
	for {
		pk, ok := tunRead(t, c, 300*time.Millisecond)
		if !ok {
			break
		}
		data = append(data, pk)
	}
	if !regexp.MustCompile(`msg="tftp transfer failed" svc=tftp client=10\.60\.63\.50:\d+ file=big\.bin bytes=512 .*err="timed out waiting for ACK"`).MatchString(p.Output()) {
		t.Fatalf("no failed-transfer line naming the ACK timeout:\n%s", p.Output())
	}
	for i, d := range data {
		if d.op != tftp.OpDATA || d.block != 2 {
			t.Fatalf("packet %d is %+v, want DATA 2", i, d)
		}
	}
	if len(data) != 3 {
		t.Fatalf("DATA 2 arrived %d times, want 1 + 2 retries = 3", len(data))
	}
	g1, g2 := data[1].at.Sub(data[0].at), data[2].at.Sub(data[1].at)
	t.Logf("DATA 2 resent after %v, then after %v", g1, g2)
	if g1 < 400*time.Millisecond || g2 < 800*time.Millisecond {
		t.Errorf("resend gaps %v, %v: want at least ~500ms then ~1s (the timeout doubling)", g1, g2)
	}
	stopOK(t, p)
}

// --tftp-idle-timeout 2s ends a transfer whose client keeps repeating ACK 0 (no progress)
// after about 3 s (the first retransmission timeout, 1 s, then the doubled one), long
// before the retry budget would (1+2+4+8+16+32 s with the defaults).
func TestTuningTFTPIdleTimeout(t *testing.T) {
	lb := newLab(t, "10.60.64.2/24", "10.60.64.50/24")
	dir, _ := netbootDir(t, "big.bin", 100_000)
	p := tunStart(t, lb, dir, "--tftp-idle-timeout", "2s")
	c := tunUDP(t, lb.cli)
	first := tunFirstData(t, c, "10.60.64.2", "big.bin")
	const limit = 12 * time.Second
	deadline := first.at.Add(limit)
	acks := 0
	for !strings.Contains(p.Output(), `msg="tftp transfer failed"`) && time.Now().Before(deadline) {
		if _, err := c.WriteToUDPAddrPort(tftp.AppendAck(nil, 0), first.from); err != nil {
			t.Fatal(err)
		}
		acks++
		for {
			if _, ok := tunRead(t, c, 10*time.Millisecond); !ok {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(first.at)
	t.Logf("transfer dropped %v after DATA 1, %d duplicate ACKs sent", took, acks)
	if !regexp.MustCompile(`msg="tftp transfer failed" svc=tftp client=10\.60\.64\.50:\d+ file=big\.bin bytes=0 .*err="no progress"`).MatchString(p.Output()) {
		t.Fatalf("transfer not dropped as idle within %v:\n%s", limit, p.Output())
	}
	if took < 1500*time.Millisecond {
		t.Errorf("dropped after %v, before the 2 s idle timeout", took)
	}
	stopOK(t, p)
}

// tunCurl fetches url from ns with curl and returns the HTTP status ("000": no answer
// within maxTime) and the body.
func tunCurl(t *testing.T, ns *netlab.NS, maxTime, url string) (string, string) {
	t.Helper()
	body := filepath.Join(t.TempDir(), "body")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := ns.Run(ctx, "curl", "-s", "--max-time", maxTime, "-o", body, "-w", "%{http_code}", url)
	b, _ := os.ReadFile(body)
	return strings.TrimSpace(string(out)), string(b)
}

// --http-max-conns 2: with two idle connections held open the third client is not served
// (its request waits in the accept queue); once one closes, it is. --http-list-dirs on
// gives an HTML listing of a directory; off (the default), the same URL is 404.
func TestTuningHTTPMaxConnsListDirs(t *testing.T) {
	netlab.RequireCommands(t, "curl")
	lb := newLab(t, "10.60.65.2/24", "10.60.65.50/24")
	dir, _ := netbootDir(t, "boot.ipxe", 100)
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "kernel.img"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := tunStart(t, lb, dir, "--no-tftp", "--http", "--http-port", "8080", "--http-max-conns", "2", "--http-list-dirs")
	q := tunStart(t, lb, dir, "--no-tftp", "--http", "--http-port", "8081")
	waitFor(t, p, "HTTP listening")
	waitFor(t, q, "HTTP listening")

	var held []net.Conn
	for range 2 {
		var c net.Conn
		if err := lb.cli.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp4", "10.60.65.2:8080", 5*time.Second)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	if code, _ := tunCurl(t, lb.cli, "2", "http://10.60.65.2:8080/boot.ipxe"); code != "000" {
		t.Fatalf("third connection served (HTTP %s) while two are held with --http-max-conns 2", code)
	}
	held[0].Close()
	if code, _ := tunCurl(t, lb.cli, "5", "http://10.60.65.2:8080/boot.ipxe"); code != "200" {
		t.Fatalf("after one held connection closed: HTTP %s, want 200\n%s", code, p.Output())
	}

	code, body := tunCurl(t, lb.cli, "5", "http://10.60.65.2:8080/sub/")
	if code != "200" || !strings.Contains(body, `<a href="kernel.img">kernel.img</a>`) {
		t.Errorf("--http-list-dirs: GET /sub/ = %s, want 200 with a listing naming kernel.img:\n%s", code, body)
	}
	if code, body := tunCurl(t, lb.cli, "5", "http://10.60.65.2:8081/sub/"); code != "404" || strings.Contains(body, "kernel.img") {
		t.Errorf("without --http-list-dirs: GET /sub/ = %s, want 404 and no listing:\n%s", code, body)
	}
	held[1].Close()
	stopOK(t, p)
	stopOK(t, q)
}

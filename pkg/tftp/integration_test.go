package tftp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// Addresses of the namespace lab (tftp owns 10.20.0.0/16).
const (
	srvIP  = "10.20.0.1"
	cliIP  = "10.20.0.2"
	srvIP2 = "10.20.1.1" // a second address on the server, for the reply-address test
	cliIP2 = "10.20.1.2"
)

// lab is a server and a client namespace joined by a veth pair, with the server running as
// a helper process (see TestMain) serving root.
type lab struct {
	srv, cli *netlab.NS
	root     string
	proc     *netlab.Proc
}

func newLab(t *testing.T, env ...string) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace test")
	}
	l := netlab.New(t)
	srv, cli := l.Namespace("tsrv"), l.Namespace("tcli")
	l.Veth(srv, "eth0", srvIP+"/24", cli, "eth0", cliIP+"/24")
	srv.MustRun("ip", "addr", "add", srvIP2+"/24", "dev", "eth0")
	cli.MustRun("ip", "addr", "add", cliIP2+"/24", "dev", "eth0")
	root := t.TempDir()
	// The helper runs as root but should not be able to read outside root anyway; the
	// temp dir must be traversable for the client-side output files too.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &lab{srv: srv, cli: cli, root: root}
}

// start runs the helper server in the server namespace, listening on the wildcard address.
func (b *lab) start(t *testing.T, env ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"env", helperEnv + "=1", "TFTP_ROOT=" + b.root}, env...)
	b.proc = b.srv.Start(append(argv, exe, "-test.run=^$")...)
	if !b.proc.WaitOutput("READY", 10*time.Second) {
		t.Fatalf("helper server did not start:\n%s", b.proc.Output())
	}
}

// file writes a pseudo-random file of size bytes into the root and returns its sha256.
func (b *lab) file(t *testing.T, name string, size int) string {
	t.Helper()
	data := writeFile(t, b.root, name, size)
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// run runs a client command in the client namespace with a bounded time.
func (b *lab) run(t *testing.T, timeout time.Duration, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := b.cli.Run(ctx, argv...)
	return string(out), err
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		return "missing: " + err.Error()
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// clientCmd is one way of fetching a file with a real client.
type clientCmd struct {
	name  string
	tools []string
	argv  func(remote, local string) []string
	skip  func(size int) string // reason to skip a size, or ""
	// opts is what the server must log as negotiated for a non-empty file, proving the
	// client really used the options it was given.
	opts string
}

func realClients() []clientCmd {
	return []clientCmd{
		{name: "tftp-hpa", tools: []string{"tftp"}, argv: func(r, l string) []string {
			return []string{"tftp", "-m", "binary", srvIP, "-c", "get", r, l}
		}, opts: `options=""`},
		{name: "atftp-blksize1468", tools: []string{"atftp"}, argv: func(r, l string) []string {
			return []string{"atftp", "--get", "-r", r, "-l", l, "--option", "blksize 1468", "--option", "tsize 0", srvIP}
		}, opts: `options="tsize=1048576 blksize=1468"`},
		{name: "atftp-window4", tools: []string{"atftp"}, argv: func(r, l string) []string {
			return []string{"atftp", "--get", "-r", r, "-l", l, "--option", "blksize 1468", "--option", "windowsize 4", srvIP}
		}, opts: `options="blksize=1468 windowsize=4"`},
		{name: "atftp-window16-blk512", tools: []string{"atftp"}, argv: func(r, l string) []string {
			return []string{"atftp", "--get", "-r", r, "-l", l, "--option", "blksize 512", "--option", "windowsize 16", srvIP}
		}, opts: `options="blksize=512 windowsize=16"`},
		{name: "curl-blksize1468", tools: []string{"curl"}, argv: func(r, l string) []string {
			return []string{"curl", "-sS", "--max-time", "30", "--tftp-blksize", "1468", "-o", l, "tftp://" + srvIP + "/" + r}
		}, skip: func(size int) string {
			if size == 0 {
				return "curl 7.88 cannot fetch a 0-byte file once options are negotiated (field guide §10)"
			}
			return ""
		}, opts: `options="blksize=1468`},
		{name: "curl-plain", tools: []string{"curl"}, argv: func(r, l string) []string {
			return []string{"curl", "-sS", "--max-time", "30", "--tftp-no-options", "-o", l, "tftp://" + srvIP + "/" + r}
		}, opts: `options=""`},
		{name: "busybox-blksize1468", tools: []string{"busybox"}, argv: func(r, l string) []string {
			return []string{"busybox", "tftp", "-g", "-r", r, "-l", l, "-b", "1468", srvIP}
		}, opts: `options="blksize=1468`},
		{name: "busybox-plain", tools: []string{"busybox"}, argv: func(r, l string) []string {
			return []string{"busybox", "tftp", "-g", "-r", r, "-l", l, srvIP}
		}, opts: `options=""`},
	}
}

// TestRealClients fetches files of awkward sizes with every real client and compares
// checksums.
func TestRealClients(t *testing.T) {
	b := newLab(t)
	b.start(t)
	sizes := []int{0, 1, 511, 512, 513, 1024, 1467, 1468, 1469, 2936, 3 * 1432, 5 * 1468, 64 * 512, 1 << 20}
	sums := map[int]string{}
	for _, size := range sizes {
		sums[size] = b.file(t, "f"+strconv.Itoa(size), size)
	}
	out := t.TempDir()
	os.Chmod(out, 0o777)
	for _, c := range realClients() {
		t.Run(c.name, func(t *testing.T) {
			netlab.RequireCommands(t, c.tools...)
			for _, size := range sizes {
				if c.skip != nil {
					if why := c.skip(size); why != "" {
						t.Logf("size %d skipped: %s", size, why)
						continue
					}
				}
				local := filepath.Join(out, c.name+"-"+strconv.Itoa(size))
				msg, err := b.run(t, 60*time.Second, c.argv("f"+strconv.Itoa(size), local)...)
				if got := sha256File(t, local); err != nil || got != sums[size] {
					t.Fatalf("size %d: err %v, sha256 %s want %s\n%s", size, err, got, sums[size], msg)
				}
				if size == 1<<20 && !b.proc.WaitOutput(fmt.Sprintf("client=%s:", cliIP), time.Second) {
					t.Fatal("no server log")
				}
			}
			// The 1 MiB transfer's log line shows what was negotiated.
			if !logHas(b.proc.Output(), "file=f1048576", c.opts) {
				t.Fatalf("server never logged %s for f1048576:\n%s", c.opts, b.proc.Output())
			}
		})
	}
}

// TestNetasciiRealClient: tftp-hpa in ascii mode turns the server's CR LF back into LF, so
// a Unix text file arrives unchanged (bare CRs survive as CR NUL on the wire).
func TestNetasciiRealClient(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	b := newLab(t)
	text := "DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img\rquiet\n" + strings.Repeat("x", 600) + "\n"
	os.WriteFile(filepath.Join(b.root, "pxelinux.cfg"), []byte(text), 0o644)
	b.start(t)
	out := filepath.Join(t.TempDir(), "cfg")
	msg, err := b.run(t, 20*time.Second, "tftp", "-m", "ascii", srvIP, "-c", "get", "pxelinux.cfg", out)
	got, _ := os.ReadFile(out)
	if err != nil || string(got) != text {
		t.Fatalf("err %v, got %q want %q\n%s", err, got, text, msg)
	}
}

// logHas reports whether one "transfer done" line mentions file and contains want.
func logHas(log, file, want string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "tftp transfer done") && strings.Contains(line, file+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// TestRollover40MiB: 40 MiB at blksize 512 is 81921 blocks; the block number wraps to 0
// after 65535 and tftp-hpa (which has no options, so 512 it is) must still get every byte.
func TestRollover40MiB(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	b := newLab(t)
	b.start(t)
	sum := b.file(t, "big.img", 40<<20)
	out := t.TempDir()
	local := filepath.Join(out, "big.img")
	start := time.Now()
	msg, err := b.run(t, 240*time.Second, "tftp", "-m", "binary", srvIP, "-c", "get", "big.img", local)
	if got := sha256File(t, local); err != nil || got != sum {
		t.Fatalf("err %v, sha256 %s want %s\n%s", err, got, sum, msg)
	}
	t.Logf("40 MiB at blksize 512 (81921 blocks) in %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(b.proc.Output(), "bytes=41943040") {
		t.Fatalf("server did not log the finished transfer:\n%s", b.proc.Output())
	}
}

// netemAvailable reports whether the kernel has sch_netem.
func netemAvailable(t *testing.T, ns *netlab.NS) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ns.Run(ctx, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms")
	if err == nil {
		ns.MustRun("tc", "qdisc", "del", "dev", "lo", "root")
	}
	return err == nil
}

// TestNetem: 10 % loss, duplication and reordering on both directions of the link;
// transfers with lock-step and windowed clients still complete with the right checksum.
// With sch_netem in the kernel this is `tc qdisc … netem` on the veth pair; without it
// (this machine) the same impairment comes from a userspace TAP wire (wire_linux_test.go).
func TestNetem(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	netlab.RequireCommands(t, "tc")
	l := netlab.New(t)
	b := &lab{srv: l.Namespace("tsrv"), cli: l.Namespace("tcli"), root: t.TempDir()}
	os.Chmod(b.root, 0o755)
	// PXE_TFTP_NETEM="loss dup reorder" in percent (bench/reliability.sh: "20 5 10").
	loss, dup, reorder := 10, 10, 10
	if v := os.Getenv("PXE_TFTP_NETEM"); v != "" {
		if _, err := fmt.Sscanf(v, "%d %d %d", &loss, &dup, &reorder); err != nil || loss > 50 || dup > 50 || reorder > 50 {
			t.Fatalf("PXE_TFTP_NETEM=%q: want three percentages up to 50", v)
		}
	}
	t.Logf("impairment: %d %% loss, %d %% duplication, %d %% reordering each way", loss, dup, reorder)
	var w *wire
	if netemAvailable(t, b.srv) {
		l.Veth(b.srv, "eth0", srvIP+"/24", b.cli, "eth0", cliIP+"/24")
		for _, ns := range []*netlab.NS{b.srv, b.cli} {
			ns.Netem("eth0", "delay", "1ms", "loss", fmt.Sprintf("%d%%", loss), "duplicate", fmt.Sprintf("%d%%", dup), "reorder", fmt.Sprintf("%d%%", 2*reorder+5), "50%")
		}
	} else {
		t.Log("kernel has no sch_netem: impairing the link with a userspace TAP wire instead")
		w = newWire(t, b.srv, srvIP+"/24", b.cli, cliIP+"/24", float64(loss)/100, float64(dup)/100, float64(reorder)/100)
	}
	b.start(t, "TFTP_TIMEOUT_MS=100", "TFTP_RETRIES=20")
	sum := b.file(t, "f", 100_000)
	sum0 := b.file(t, "empty", 0)
	out := t.TempDir()
	type run struct {
		name, tool string
		argv       []string
	}
	lossy := []run{
		{"tftp-hpa", "tftp", []string{"sh", "-c", "printf 'binary\\nrexmt 1\\ntimeout 60\\nget f " + filepath.Join(out, "hpa") + "\\nquit\\n' | tftp " + srvIP}},
		{"atftp-blksize1468", "atftp", []string{"atftp", "--tftp-timeout", "1", "--get", "-r", "f", "-l", filepath.Join(out, "atftp1"), "--option", "blksize 1468", srvIP}},
		{"atftp-window8", "atftp", []string{"atftp", "--tftp-timeout", "1", "--get", "-r", "f", "-l", filepath.Join(out, "atftp2"), "--option", "blksize 1024", "--option", "windowsize 8", srvIP}},
		{"busybox", "busybox", []string{"busybox", "tftp", "-g", "-r", "f", "-l", filepath.Join(out, "bb"), "-b", "1468", srvIP}},
	}
	for _, r := range lossy {
		t.Run(r.name, func(t *testing.T) {
			if w != nil {
				before := w.snapshot()
				defer func() {
					after := w.snapshot()
					t.Logf("wire during %s: %d frames, %d dropped, %d duplicated, %d reordered", r.name,
						after.sent-before.sent, after.dropped-before.dropped, after.duplicated-before.duplicated, after.reordered-before.reordered)
				}()
			}
			netlab.RequireCommands(t, r.tool)
			local := r.argv[len(r.argv)-1]
			switch r.tool {
			case "tftp":
				local = filepath.Join(out, "hpa")
			case "atftp", "busybox":
				for i, a := range r.argv {
					if a == "-l" {
						local = r.argv[i+1]
					}
				}
			}
			// Clients give up on their own under this much damage: atftp aborts with
			// "unexpected OACK" when the OACK arrives twice (duplicated, or resent because
			// its ACK 0 was lost), roughly one fetch in five. Retry the whole fetch a
			// bounded number of times, as firmware does; each attempt is logged.
			var msg string
			var err error
			for attempt := 1; attempt <= 5; attempt++ {
				os.Remove(local)
				msg, err = b.run(t, 90*time.Second, r.argv...)
				if got := sha256File(t, local); err == nil && got == sum {
					if attempt > 1 {
						t.Logf("client needed %d attempts", attempt)
					}
					return
				}
				t.Logf("attempt %d failed: %v\n%s", attempt, err, lastLines(msg, 3))
			}
			t.Fatalf("%s: err %v, sha256 %s want %s\n%s", r.name, err, sha256File(t, local), sum, msg)
		})
	}
	t.Run("tftp-hpa-empty", func(t *testing.T) {
		local := filepath.Join(out, "empty")
		for attempt := 1; attempt <= 3; attempt++ {
			msg, err := b.run(t, 60*time.Second, "sh", "-c", "printf 'binary\\nrexmt 1\\nget empty "+local+"\\nquit\\n' | tftp "+srvIP)
			if sha256File(t, local) == sum0 && err == nil {
				return
			}
			t.Logf("attempt %d: %v %s", attempt, err, msg)
		}
		t.Fatal("empty file not fetched under netem")
	})
	for _, line := range strings.Split(b.proc.Output(), "\n") {
		if strings.Contains(line, "transfer done") {
			t.Log(line)
		}
	}
	if !strings.Contains(b.proc.Output(), "retransmits=") {
		t.Fatalf("no transfer log lines:\n%s", b.proc.Output())
	}
}

// TestRealClientRefusals: a real client (tftp-hpa passes names through untouched) gets the
// right ERROR for missing files, WRQ and traversal attempts, and nothing outside the root
// reaches it.
func TestRealClientRefusals(t *testing.T) {
	netlab.RequireCommands(t, "tftp")
	b := newLab(t)
	parent := filepath.Dir(b.root)
	secret := "TOP-SECRET-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	os.WriteFile(filepath.Join(parent, "secret"), []byte(secret), 0o644)
	os.Symlink(filepath.Join(parent, "secret"), filepath.Join(b.root, "link-out"))
	os.Symlink("../secret", filepath.Join(b.root, "link-rel"))
	os.Symlink("/", filepath.Join(b.root, "rootfs"))
	os.Symlink("/dev/urandom", filepath.Join(b.root, "rnd"))
	os.Mkdir(filepath.Join(b.root, "dir"), 0o755)
	b.file(t, "ok", 100)
	b.start(t)
	out := t.TempDir()
	os.Chmod(out, 0o777)
	cases := []struct {
		name string
		code int
	}{
		{"missing", 1},
		{"dir/missing", 1},
		{"../secret", 2},
		{"../../../../../../etc/passwd", 2},
		{`..\secret`, 2},
		{`..\..\..\etc\passwd`, 2},
		{"dir/../../secret", 2},
		{`dir\..\..\secret`, 2},
		{"./../secret", 2},
		{"/../secret", 2},
		{`\..\secret`, 2},
		{"..", 2},
		{"/etc/passwd", 1}, // the leading / is stripped: root/etc/passwd does not exist
		{`C:\Windows\system.ini`, 1},
		{"/proc/self/environ", 1},
		{"link-out", 2},
		{"link-rel", 2},
		{"rootfs/etc/passwd", 2},
		{"rootfs/proc/self/environ", 2},
		{"rnd", 2},
		{"dir", 2},
		{strings.Repeat("A", 300), 2},
		{strings.Repeat("../", 90) + "etc/passwd", 2},
		{"dir/" + strings.Repeat("x", 252), 2},
	}
	for i, c := range cases {
		local := filepath.Join(out, "o"+strconv.Itoa(i))
		msg, _ := b.run(t, 20*time.Second, "tftp", "-m", "binary", srvIP, "-c", "get", c.name, local)
		want := fmt.Sprintf("Error code %d", c.code)
		if !strings.Contains(msg, want) {
			t.Errorf("%q: tftp said %q, want %q", c.name, strings.TrimSpace(msg), want)
		}
		if data, err := os.ReadFile(local); err == nil && (strings.Contains(string(data), secret) || strings.Contains(string(data), "root:")) {
			t.Errorf("%q: leaked %q", c.name, data)
		}
	}
	// WRQ: tftp-hpa's put.
	up := filepath.Join(out, "upload")
	os.WriteFile(up, []byte("data"), 0o644)
	msg, _ := b.run(t, 20*time.Second, "tftp", "-m", "binary", srvIP, "-c", "put", up, "uploaded")
	if !strings.Contains(msg, "Error code 2") {
		t.Errorf("WRQ: tftp said %q, want Error code 2", msg)
	}
	if _, err := os.Stat(filepath.Join(b.root, "uploaded")); err == nil {
		t.Error("WRQ created a file")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", b.proc.Output())
	}
}

// TestReplyAddressAndMTU: on a wildcard listener each transfer answers from the address the
// request was sent to (multi-address hosts), and blksize is capped at the MTU of the
// interface the request came in on, less 32.
func TestReplyAddressAndMTU(t *testing.T) {
	b := newLab(t)
	b.srv.MustRun("ip", "link", "set", "eth0", "mtu", "1000")
	b.cli.MustRun("ip", "link", "set", "eth0", "mtu", "1000")
	b.start(t)
	want := writeFile(t, b.root, "f", 10_000)
	for _, dst := range []string{srvIP, srvIP2} {
		err := b.cli.Do(func() error {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{})
			if err != nil {
				return err
			}
			defer c.Close()
			srv := netip.AddrPortFrom(netip.MustParseAddr(dst), 69)
			cl := newTestClient(&recordingConn{packetConn: c})
			res, err := cl.get(srv, "f", "octet", opt("blksize", 8192), opt("tsize", 0))
			if err != nil {
				return err
			}
			from := cl.conn.(*recordingConn).firstFrom
			if from.Addr().String() != dst || from.Port() == 69 {
				return fmt.Errorf("reply to %s came from %v", dst, from)
			}
			if res.sum != sha256.Sum256(want) {
				return fmt.Errorf("checksum mismatch")
			}
			n := Negotiated{OACK: res.oack}
			if n.String() != "blksize=968 tsize=10000" {
				return fmt.Errorf("OACK %q, want blksize capped at 1000-32", n.String())
			}
			return nil
		})
		if err != nil {
			t.Fatalf("request to %s: %v", dst, err)
		}
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// recordingConn remembers where the first reply came from.
type recordingConn struct {
	packetConn
	firstFrom netip.AddrPort
}

func (r *recordingConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := r.packetConn.ReadFromUDPAddrPort(b)
	if err == nil && !r.firstFrom.IsValid() {
		r.firstFrom = from
	}
	return n, from, err
}

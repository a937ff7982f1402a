//go:build linux

package httpd

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

const chromium = "/usr/bin/chromium"

// TestHelperBootServer is not a test: TestDashboardChromium runs the test binary inside a
// namespace with PXE_EDGE_HTTP_HELPER=1 so that this function serves TFTP and HTTP there
// (pkg/tftp opens a socket per transfer from its own goroutines, which must all live in the
// namespace — a process inside it is the simple way).
func TestHelperBootServer(t *testing.T) {
	if os.Getenv("PXE_EDGE_HTTP_HELPER") != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	root := os.Getenv("HELPER_ROOT")
	bus := events.NewBus()
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{}, status: DaemonStatus{
		Mode: "auto", ActiveMode: "proxy", Interface: "eth0", Carrier: true,
	}}
	for _, c := range strings.Split(os.Getenv("HELPER_CLIENTS"), ",") {
		f := strings.Split(c, "=")
		if len(f) == 3 {
			clients.byIP[netip.MustParseAddr(f[0])] = ClientInfo{MAC: f[1], Hostname: f[2], ArchName: "x64-uefi"}
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	src, err := tftp.NewDirSource(root)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tftp.Server{Source: src, Events: bus, Logger: log}
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 69})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := ts.Serve(ctx, uc); err != nil {
			log.Error("tftp", "err", err)
		}
	}()
	hs, err := New(Config{Root: root, Status: true, Events: bus, Clients: clients, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", ":80")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("helper ready") // both sockets are bound
	if err := hs.Serve(ctx, ln); err != nil {
		t.Fatal(err)
	}
}

// cdp speaks the Chrome DevTools Protocol over --remote-debugging-pipe (fd 3 in, fd 4 out,
// NUL-terminated JSON), which needs no WebSocket library.
type cdp struct {
	mu  sync.Mutex
	w   *os.File
	r   *os.File
	br  *bufio.Reader
	id  int
	cmd *exec.Cmd
}

func (c *cdp) call(session, method string, params any, result any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	msg := map[string]any{"id": c.id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return err
	}
	_ = c.r.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		line, err := c.br.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("cdp %s: %w", method, err)
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &resp); err != nil {
			return err
		}
		if resp.ID != c.id {
			continue // an event
		}
		if resp.Error != nil {
			return fmt.Errorf("cdp %s: %s", method, resp.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(resp.Result, result)
		}
		return nil
	}
}

// startChromium runs headless Chromium inside ns with a fresh profile and returns a CDP
// session attached to a new page showing url.
func startChromium(t *testing.T, ns *netlab.NS, url string) (*cdp, string) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	cmd := ns.Exec(context.Background(), chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	c := &cdp{w: inW, r: outR, br: bufio.NewReader(outR), cmd: cmd}
	t.Cleanup(func() {
		_ = c.call("", "Browser.close", map[string]any{}, nil)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		inW.Close()
		outR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call("", "Target.createTarget", map[string]any{"url": url}, &target); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	// A phone-sized viewport: the dashboard is meant to be read on one.
	if err := c.call(att.SessionID, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 430, "height": 900, "deviceScaleFactor": 1, "mobile": true,
	}, nil); err != nil {
		t.Fatal(err)
	}
	return c, att.SessionID
}

type pageBar struct {
	Key   string `json:"key"`
	Proto string `json:"proto"`
	Bytes int64  `json:"bytes"`
	Max   int64  `json:"max"`
	Name  string `json:"name"`
}

type pageState struct {
	Conn string    `json:"conn"`
	Bars []pageBar `json:"bars"`
	Text string    `json:"text"`
}

const pageProbe = `!document.getElementById("conn") ? "{}" : JSON.stringify({
  conn: document.getElementById("conn").textContent,
  text: document.getElementById("clients").innerText,
  bars: [...document.querySelectorAll(".card.client")].filter(c => c.querySelector("progress.xfer")).map(c => {
    const p = c.querySelector("progress.xfer");
    return {key: p.dataset.key, proto: p.dataset.proto, bytes: +p.dataset.bytes, max: +p.max, name: c.querySelector(".name").textContent};
  }),
})`

func (c *cdp) page(t *testing.T, session string) pageState {
	t.Helper()
	var res struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := c.call(session, "Runtime.evaluate", map[string]any{"expression": pageProbe, "returnByValue": true}, &res); err != nil {
		t.Fatal(err)
	}
	var st pageState
	if err := json.Unmarshal([]byte(res.Result.Value), &st); err != nil {
		t.Fatalf("probe %q: %v", res.Result.Value, err)
	}
	return st
}

func barFor(st pageState, proto string) (pageBar, bool) {
	for _, b := range st.Bars {
		if b.Proto == proto {
			return b, true
		}
	}
	return pageBar{}, false
}

// TestDashboardChromium boots nothing but moves real bytes: a tftp-hpa client fetches a file
// from pkg/tftp over a veth (slowed by a slow local writer), curl fetches a kernel at 1 MB/s from
// pkg/http, and headless Chromium watches the dashboard. The page must name both clients and
// show each progress bar advancing between two looks; a screenshot is kept.
func TestDashboardChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace + chromium test")
	}
	lab := netlab.New(t)
	netlab.RequireCommands(t, "curl", "tftp")
	netlab.RequireFiles(t, chromium)
	srv, c1, c2 := lab.Namespace("dsrv"), lab.Namespace("dtftp"), lab.Namespace("dhttp")
	lab.Veth(srv, "eth0", "10.50.3.1/24", c1, "eth0", "10.50.3.2/24")
	lab.Veth(srv, "eth1", "10.50.4.1/24", c2, "eth0", "10.50.4.2/24")
	// tftp-hpa is lock-step: it ACKs a block only after writing it. Writing into a FIFO
	// that this test drains at ~100 KB/s slows the real transfer down enough to watch
	// (netem would do it too, but not every CI kernel has sch_netem).
	fifo := filepath.Join(t.TempDir(), "tftp.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		f, err := os.Open(fifo) // blocks until tftp opens it for writing
		if err != nil {
			return
		}
		defer f.Close()
		buf := make([]byte, 1024)
		for {
			select {
			case <-stopDrain:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := f.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stopDrain)
		select {
		case <-drained:
		case <-time.After(5 * time.Second):
		}
	})

	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"ipxe.efi": strings.Repeat("T", 4<<20),
	})
	// Large enough that socket buffers (megabytes on veth) cannot swallow it: after the
	// first burst the rest moves at curl's rate. Sparse: the test writes no 64 MiB.
	f, err := os.Create(filepath.Join(root, "vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	helper := srv.Start("env", "PXE_EDGE_HTTP_HELPER=1", "HELPER_ROOT="+root,
		"HELPER_CLIENTS=10.50.3.2=52:54:00:50:03:02=tftp-pc,10.50.4.2=52:54:00:50:04:02=http-pc",
		os.Args[0], "-test.run=^TestHelperBootServer$", "-test.v")
	if !helper.WaitOutput("helper ready", 30*time.Second) {
		t.Fatalf("helper did not start:\n%s", helper.Output())
	}
	tftpc := c1.Start("tftp", "10.50.3.1", "-m", "binary", "-c", "get", "ipxe.efi", fifo)
	httpc := c2.Start("curl", "-sS", "--limit-rate", "1M", "-o", "/dev/null", "http://10.50.4.1/vmlinuz")

	c, session := startChromium(t, srv, "http://127.0.0.1/")
	var first pageState
	deadline := time.Now().Add(40 * time.Second)
	for {
		first = c.page(t, session)
		tb, ok1 := barFor(first, "tftp")
		hb, ok2 := barFor(first, "http")
		if first.Conn == "live" && ok1 && ok2 && tb.Bytes > 0 && hb.Bytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard never showed both transfers: %+v\nhelper:\n%s\ntftp: %s\ncurl: %s", first, helper.Output(), tftpc.Output(), httpc.Output())
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Then look again until both bars moved. The HTTP bar moves in steps: the kernel wakes a
	// sendfile blocked on a full socket buffer only once a third of it drained (megabytes on
	// veth), so the wait is bounded at 20 s rather than a fixed interval.
	var second pageState
	advanced := func(proto string) bool {
		a, _ := barFor(first, proto)
		b, ok := barFor(second, proto)
		return ok && b.Bytes > a.Bytes
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		second = c.page(t, session)
		if advanced("tftp") && advanced("http") {
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, proto := range []string{"tftp", "http"} {
		a, _ := barFor(first, proto)
		b, _ := barFor(second, proto)
		if !advanced(proto) {
			t.Errorf("%s progress did not advance in 20 s: %+v then %+v", proto, a, b)
		}
		t.Logf("%s bar for %s: %d → %d of %d bytes", proto, b.Name, a.Bytes, b.Bytes, b.Max)
	}
	for _, want := range []string{"tftp-pc", "http-pc", "10.50.3.2", "52:54:00:50:04:02"} {
		if !strings.Contains(second.Text, want) {
			t.Errorf("page does not show %q:\n%s", want, second.Text)
		}
	}

	var shot struct {
		Data string `json:"data"`
	}
	if err := c.call(session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
	// PXE_EDGE_SCREENSHOT=path keeps a copy outside the temp dir (docs/img/dashboard.png).
	if p := os.Getenv("PXE_EDGE_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Error(err)
		}
	}
}

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

func parse(t *testing.T, args ...string) *config.Config {
	t.Helper()
	r, err := config.Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	return r.Config
}

// --debug/--verbose give each service its own level; lifecycle lines stay at info.
// runDaemon runs a daemon for cfg in this process; stop ends it and fails the test if Run
// returned an error.
func runDaemon(t *testing.T, cfg *config.Config) (stop func()) {
	t.Helper()
	logs, err := NewLoggers(cfg, &bytes.Buffer{}, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, logs, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestServiceLevels(t *testing.T) {
	cfg := parse(t, "-a", t.TempDir(), "--debug", "tftp", "--verbose", "all,-http")
	var buf bytes.Buffer
	ls, err := NewLoggers(cfg, &buf, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	ls.For("tftp").Debug("tftp-debug")
	ls.For("dhcp").Debug("dhcp-debug")
	ls.For("dhcp").Log(context.Background(), config.LevelVerbose, "dhcp-verbose")
	ls.For("http").Log(context.Background(), config.LevelVerbose, "http-verbose")
	ls.For("http").Info("http-info")
	ls.Main.Debug("main-debug")
	out := buf.String()
	for _, want := range []string{"msg=tftp-debug svc=tftp", "level=VERBOSE msg=dhcp-verbose svc=dhcp", "msg=http-info svc=http"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, not := range []string{"dhcp-debug", "http-verbose", "main-debug"} {
		if strings.Contains(out, not) {
			t.Errorf("%q logged although its level is off:\n%s", not, out)
		}
	}
}

// --verbose puts a service's logger at config.LevelVerbose; dhcpd writes its per-request
// lines at dhcpd.LevelVerbose, so the two must be the same level.
func TestVerboseLevelMatchesDHCPD(t *testing.T) {
	if config.LevelVerbose != dhcpd.LevelVerbose {
		t.Fatalf("config.LevelVerbose %v, dhcpd.LevelVerbose %v", config.LevelVerbose, dhcpd.LevelVerbose)
	}
	cfg := parse(t, "-a", t.TempDir(), "--verbose", "dhcp")
	var buf bytes.Buffer
	ls, err := NewLoggers(cfg, &buf, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !ls.For("dhcp").Enabled(context.Background(), dhcpd.LevelVerbose) || ls.For("tftp").Enabled(context.Background(), dhcpd.LevelVerbose) {
		t.Fatal("--verbose dhcp must enable dhcpd's request lines for dhcp only")
	}
}

func TestJSONLogs(t *testing.T) {
	cfg := parse(t, "-a", t.TempDir(), "--log-format", "json")
	var buf bytes.Buffer
	ls, err := NewLoggers(cfg, &buf, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	ls.For("tftp").Info("hello", "n", 1)
	if !regexp.MustCompile(`^\{"time":"[^"]+","level":"INFO","msg":"hello","svc":"tftp","n":1\}\n$`).MatchString(buf.String()) {
		t.Errorf("JSON log line: %q", buf.String())
	}
}

// --syslog sends one datagram per record, in RFC 5424 or RFC 3164 framing, besides the
// normal log output.
func TestSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	read := func() string {
		t.Helper()
		b := make([]byte, 2048)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	for _, tc := range []struct {
		format string
		re     string
	}{
		{"rfc5424", `^<28>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z box pxe-edge 42 - - msg="carrier lost" svc=link iface=eth0$`},
		{"rfc3164", `^<28>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d box pxe-edge\[42\]: msg="carrier lost" svc=link iface=eth0$`},
	} {
		cfg := parse(t, "-a", t.TempDir(), "--syslog", "127.0.0.1", "--syslog-port", strconv.Itoa(port), "--syslog-format", tc.format)
		var buf bytes.Buffer
		ls, err := NewLoggers(cfg, &buf, "box", 42)
		if err != nil {
			t.Fatal(err)
		}
		ls.For("link").Warn("carrier lost", "iface", "eth0")
		got := read()
		if !regexp.MustCompile(tc.re).MatchString(got) {
			t.Errorf("%s: datagram %q does not match %s", tc.format, got, tc.re)
		}
		if !strings.Contains(buf.String(), "carrier lost") {
			t.Errorf("%s: the record must still reach the normal log", tc.format)
		}
		ls.For("tftp").Info("transfer done")
		if got := read(); !strings.HasPrefix(got, "<30>") {
			t.Errorf("info severity: %q", got)
		}
		ls.Close()
	}
}

// The daemon tells systemd READY=1 once it serves, pets the watchdog at half of
// WATCHDOG_USEC, and says STOPPING=1 on the way out.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	var mu sync.Mutex
	var got []string
	go func() {
		b := make([]byte, 256)
		for {
			n, err := ln.Read(b)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(b[:n]))
			mu.Unlock()
		}
	}()
	dir := t.TempDir()
	free, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.LocalAddr().(*net.UDPAddr).Port
	free.Close()
	stop := runDaemon(t, parse(t, "-a", dir, "--tftp-server-ip", "127.0.0.1", "--tftp-port", strconv.Itoa(port)))
	has := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range got {
			if strings.Contains(g, s) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !(has("READY=1") && has("WATCHDOG=1")) {
		time.Sleep(20 * time.Millisecond)
	}
	if !has("READY=1") || !has("WATCHDOG=1") {
		t.Fatalf("notifications: %q", got)
	}
	stop()
	for deadline := time.Now().Add(2 * time.Second); !has("STOPPING=1") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !has("STOPPING=1") {
		t.Errorf("no STOPPING=1: %q", got)
	}
}

func TestWatchdogIntervalForOtherPID(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	if watchdogInterval() != 0 {
		t.Error("a watchdog meant for another process must be ignored")
	}
	t.Setenv("WATCHDOG_PID", "")
	if got := watchdogInterval(); got != 500*time.Millisecond {
		t.Errorf("interval %v, want half of WATCHDOG_USEC", got)
	}
}

func TestLoadBootMap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "map.json")
	os.WriteFile(p, []byte(`{"7": "snponly.efi", "11": "arm64/ipxe.efi"}`), 0o644)
	m, err := loadBootMap(p)
	if err != nil || m[7] != "snponly.efi" || m[11] != "arm64/ipxe.efi" || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	os.WriteFile(p, []byte(`{"efi": "x"}`), 0o644)
	if _, err := loadBootMap(p); err == nil || !strings.Contains(err.Error(), `key "efi"`) {
		t.Errorf("bad key: %v", err)
	}
}

// The static lease file in PyPXE's documented format ({"dhcp": {"binding": {MAC: {ipaddr,
// subnet, router, dns, rom}}}}) loads through the reservation parser the daemon uses at
// start and on SIGHUP, with every field.
func TestPyPXEStaticLeaseFile(t *testing.T) {
	r, err := dhcpd.LoadReservations("../config/testdata/pypxe_static_leases.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("%d reservations, want 2", r.Len())
	}
	a, ok := r.Lookup([6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56})
	if !ok {
		t.Fatal("lower-case MAC key not found")
	}
	got := reservationFields(a)
	want := map[string]string{"ipaddr": "10.60.1.20", "subnet": "255.255.255.0", "router": "10.60.1.1", "dns": "10.60.1.1,9.9.9.9", "rom": "pxelinux.0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reservation %v, want %v", got, want)
	}
	b, ok := r.Lookup([6]byte{0x5c, 0x9a, 0xd8, 0x5e, 0xf2, 0xe5})
	if !ok || b.IP.String() != "10.60.1.21" || b.ROM != "" || len(b.DNS) != 1 {
		t.Errorf("upper-case MAC key: %+v %v", b, ok)
	}
}

// The facts cache, fed from DHCP events, is bounded: a flood of MACs keeps the newest
// maxFacts; events without a client's facts (lease changes) are ignored.
func TestFactsCacheBounded(t *testing.T) {
	c := newFactsCache()
	ch := make(chan events.Event, 16)
	done := make(chan struct{})
	go func() { c.follow(ch); close(done) }()
	uefi := events.Machine{Kind: "uefi-x64", Arch: 7, ArchKnown: true, Platform: "efi", BuildArch: "x86_64"}
	for i := 0; i < maxFacts+100; i++ {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)}
		ch <- events.Event{Kind: events.DHCP, MAC: mac.String(), Machine: uefi}
		ch <- events.Event{Kind: events.LeaseChanged, MAC: mac.String()}
	}
	close(ch)
	<-done
	if len(c.m) != maxFacts {
		t.Fatalf("%d entries, want %d", len(c.m), maxFacts)
	}
	if _, ok := c.get([6]byte{0x52, 0x54, 0, 0, 0, 0}); ok {
		t.Error("the oldest entry survived")
	}
	last := maxFacts + 99
	f, ok := c.get([6]byte{0x52, 0x54, 0, 0, byte(last >> 8), byte(last)})
	if !ok || f.Arch != 7 || !f.ArchKnown || f.BuildArch != "x86_64" || f.Platform != "efi" || f.Kind != "uefi-x64" {
		t.Errorf("newest entry: %+v %v", f, ok)
	}
}

// SIGHUP's reload swaps a changed boot map into the running dhcpd.Server (SetBoot) instead
// of building a new one, so its lease table, counters and sockets carry on.
func TestReloadSwapsBootInPlace(t *testing.T) {
	dir := t.TempDir()
	bm := filepath.Join(dir, "bootmap.json")
	if err := os.WriteFile(bm, []byte(`{"7": "first.efi"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, "-a", dir, "--dhcp", "-s", "10.60.16.2", "-b", "10.60.16.100", "-e", "10.60.16.150",
		"--state-dir", filepath.Join(dir, "state"), "--boot-map", bm)
	var buf bytes.Buffer
	logs, err := NewLoggers(cfg, &buf, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, logs: logs, log: logs.Main, bus: events.NewBus()}
	d.activeMode.Store("off")
	s, err := newDHCPService(d, nil) // no interface: no sockets
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	srv := s.srv.Load()
	srv.Resume()
	var resp rawdhcp.Message
	req := new(rawdhcp.Message)
	req.Op, req.HType, req.HLen = rawdhcp.BootRequest, 1, 6
	req.CHAddr = [16]byte{0x52, 0x54, 0, 0x60, 0x16, 1}
	req.SetMessageType(rawdhcp.Discover)
	req.SetClientArchs(7)
	req.SetVendorClass("PXEClient:Arch:00007:UNDI:003016")
	if r := srv.Handle(context.Background(), req, 67, &resp); r != dhcpd.ReplyOffer || string(resp.BootFileName()) != "first.efi" {
		t.Fatalf("before reload: %v %q", r, resp.BootFileName())
	}
	if err := os.WriteFile(bm, []byte(`{"7": "second.efi"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	if s.srv.Load() != srv {
		t.Fatal("reload built a new dhcpd.Server; it must swap the boot map in place")
	}
	if r := srv.Handle(context.Background(), req, 67, &resp); r != dhcpd.ReplyOffer || string(resp.BootFileName()) != "second.efi" {
		t.Fatalf("after reload: %v %q, want second.efi", r, resp.BootFileName())
	}
	if got := srv.Stats().ByType[rawdhcp.Discover]; got != 2 {
		t.Fatalf("counters reset across the reload: %d DISCOVERs, want 2", got)
	}
	if !strings.Contains(buf.String(), "boot map reloaded") {
		t.Fatalf("no reload line:\n%s", buf.String())
	}
}

// The Pi, U-Boot, HTTP boot, HTTP and TFTP tuning flags reach pkg/boot's, pkg/http's and
// pkg/tftp's configurations.
func TestTuningFlagsReachServices(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, "-a", dir, "--http", "--no-pi", "--pi-menu", "three-spaces", "--pi-tftp-prefix", "mac", "--pi-http-path", "pi/boot",
		"--uboot-file", "u-boot/pxelinux.0", "--uboot-config-file", "pxelinux.cfg/default", "--http-boot-path", "/efi/grub.efi",
		"--http-max-conns", "8", "--http-list-dirs", "--tftp-timeout", "500ms", "--tftp-retries", "9", "--tftp-idle-timeout", "90")
	logs, err := NewLoggers(cfg, &bytes.Buffer{}, "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, logs: logs, log: logs.Main, bus: events.NewBus()}
	bc := (&dhcpService{d: d}).bootConfig(nil)
	if !bc.Pi.Disabled || bc.Pi.Menu != boot.PiMenuThreeSpaces || bc.Pi.TFTPPrefix != "mac" ||
		bc.UBoot.File != "u-boot/pxelinux.0" || bc.UBoot.ConfigFile != "pxelinux.cfg/default" || bc.HTTPBootPath != "/efi/grub.efi" {
		t.Errorf("boot config: %+v", bc)
	}
	if hc := d.httpConfig("127.0.0.1:0"); hc.MaxConns != 8 || !hc.ListDirs || hc.PiPath != "pi/boot" {
		t.Errorf("http config: MaxConns %d ListDirs %v PiPath %q", hc.MaxConns, hc.ListDirs, hc.PiPath)
	}
	if ts := d.tftpServer(nil); ts.Timeout != 500*time.Millisecond || ts.Retries != 9 || ts.IdleTimeout != 90*time.Second {
		t.Errorf("tftp server: timeout %v retries %d idle %v", ts.Timeout, ts.Retries, ts.IdleTimeout)
	}
	// The defaults leave Pi handling on with the automatic menu.
	d.cfg = parse(t, "-a", dir)
	if bc := (&dhcpService{d: d}).bootConfig(nil); bc.Pi.Disabled || bc.Pi.Menu != boot.PiMenuAuto {
		t.Errorf("default boot config: %+v", bc.Pi)
	}
}

package httpd

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func fetchStatus(t *testing.T, addr string) statusJSON {
	st, _ := fetchStatusRecent(t, addr)
	return st
}

// fetchStatusRecent also returns how many recent events the status held (events.Kind has
// no UnmarshalText, so "recent" is decoded on its own).
func fetchStatusRecent(t *testing.T, addr string) (statusJSON, int) {
	t.Helper()
	resp, body := rawRequest(t, addr, "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("status json: %v\n%s", err, body)
	}
	var recent []map[string]any
	if err := json.Unmarshal(raw["recent"], &recent); err != nil {
		t.Fatalf("recent: %v", err)
	}
	delete(raw, "recent")
	b, _ := json.Marshal(raw)
	var st statusJSON
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status json: %v\n%s", err, body)
	}
	return st, len(recent)
}

func TestStatusFromEvents(t *testing.T) {
	bus := events.NewBus()
	clients := &fakeClients{
		byIP: map[netip.Addr]ClientInfo{netip.MustParseAddr("10.50.0.10"): {MAC: "52:54:00:00:00:10", Hostname: "pc10", ArchName: "x64-uefi"}},
		status: DaemonStatus{
			Mode: "auto", ActiveMode: "proxy", Interface: "eth0", Carrier: true, PoolSize: 100, PoolUsed: 3,
			Leases:       []Lease{{MAC: "52:54:00:00:00:10", IP: netip.MustParseAddr("10.50.0.10"), State: "bound"}},
			DHCPReceived: map[string]uint64{"DISCOVER": 5, "REQUEST": 4},
		},
	}
	dir := t.TempDir()
	_, addr, _ := startServer(t, Config{Root: dir, Status: true, Events: bus, Clients: clients, Version: "v1.2.3"})
	cli := netip.MustParseAddrPort("10.50.0.10:68")
	bus.Publish(events.Event{Kind: events.DHCP, Proto: "dhcp", Msg: "ACK", MAC: "52:54:00:00:00:10", Client: cli, Machine: events.Machine{Kind: "uefi-x64", Chain: "shim"}})
	id := bus.NextID()
	tftpCli := netip.MustParseAddrPort("10.50.0.10:2000")
	bus.Publish(events.Event{Kind: events.TransferStarted, Proto: "tftp", ID: id, Client: tftpCli, File: "ipxe.efi", Total: 1000})
	bus.Publish(events.Event{Kind: events.TransferProgress, Proto: "tftp", ID: id, Client: tftpCli, File: "ipxe.efi", Bytes: 400, Total: 1000})
	// A client nobody told us the MAC of.
	bus.Publish(events.Event{Kind: events.TransferStarted, Proto: "tftp", ID: bus.NextID(), Client: netip.MustParseAddrPort("10.50.0.99:1000"), File: "x", Total: 10})

	var st statusJSON
	waitFor(t, "transfers in status", func() bool {
		var n int
		st, n = fetchStatusRecent(t, addr)
		return len(st.Transfers) == 2 && n == 4
	})
	if st.Mode != "auto" || st.ActiveMode != "proxy" || st.Interface != "eth0" || st.Carrier == nil || !*st.Carrier ||
		st.Pool.Size != 100 || len(st.Leases) != 1 || st.Version != "v1.2.3" {
		t.Errorf("daemon part: %+v", st)
	}
	if len(st.DHCPReceived) != 2 || st.DHCPReceived["DISCOVER"] != 5 || st.DHCPReceived["REQUEST"] != 4 {
		t.Errorf("dhcp_received: %v", st.DHCPReceived)
	}
	c := st.Clients
	if len(c) != 2 {
		t.Fatalf("clients: %+v", c)
	}
	var pc10 clientView
	for _, x := range c {
		if x.MAC == "52:54:00:00:00:10" {
			pc10 = x
		}
	}
	if pc10.Stage != "tftp" || pc10.File != "ipxe.efi" || pc10.Bytes != 400 || pc10.Total != 1000 || pc10.Hostname != "pc10" || pc10.IP != "10.50.0.10" || pc10.Chain != "shim" {
		t.Errorf("pc10: %+v", pc10)
	}
	bus.Publish(events.Event{Kind: events.TransferDone, Proto: "tftp", ID: id, Client: tftpCli, File: "ipxe.efi", Bytes: 1000, Total: 1000, Retrans: 2})
	waitFor(t, "done", func() bool {
		st = fetchStatus(t, addr)
		return len(st.Transfers) == 1
	})
	for _, x := range st.Clients {
		if x.MAC == "52:54:00:00:00:10" && (x.Stage != "done" || x.Files != 1) {
			t.Errorf("after done: %+v", x)
		}
	}

	// Metrics agree with what happened.
	resp, body := rawRequest(t, addr, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics %d", resp.StatusCode)
	}
	m := string(body)
	for _, want := range []string{
		`pxe_edge_build_info{version="v1.2.3",goversion="`,
		`pxe_edge_dhcp_received_total{type="DISCOVER"} 5`,
		`pxe_edge_dhcp_replies_total{type="ACK"} 1`,
		`pxe_edge_dhcp_replies_total{type="NAK"} 0`,
		`pxe_edge_dhcp_pool_size 100`,
		`pxe_edge_dhcp_pool_used 3`,
		`pxe_edge_link_carrier{interface="eth0"} 1`,
		`pxe_edge_tftp_transfers_total{result="done"} 1`,
		`pxe_edge_tftp_bytes_total 1000`,
		`pxe_edge_tftp_retransmits_total 2`,
		`pxe_edge_tftp_transfers_active 1`,
		`pxe_edge_http_requests_total{code="200"} `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	checkExposition(t, m)
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.e+]+|NaN|\+Inf|-Inf)$`)
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
)

// checkExposition validates the text format line by line: every sample belongs to the
// family declared by the TYPE line before it, families appear once, counters end in _total.
func checkExposition(t *testing.T, m string) {
	t.Helper()
	if !strings.HasSuffix(m, "\n") {
		t.Error("exposition must end with a newline")
	}
	seen := map[string]bool{}
	family, typ := "", ""
	for i, line := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
		switch {
		case helpRE.MatchString(line):
			name := helpRE.FindStringSubmatch(line)[1]
			if seen[name] {
				t.Errorf("line %d: family %s repeated", i+1, name)
			}
			seen[name] = true
			family = name
		case typeRE.MatchString(line):
			sm := typeRE.FindStringSubmatch(line)
			if sm[1] != family {
				t.Errorf("line %d: TYPE for %s after HELP for %s", i+1, sm[1], family)
			}
			typ = sm[2]
			if typ == "counter" && !strings.HasSuffix(family, "_total") {
				t.Errorf("line %d: counter %s without _total", i+1, family)
			}
		case sampleRE.MatchString(line):
			if name := sampleRE.FindStringSubmatch(line)[1]; name != family {
				t.Errorf("line %d: sample %s inside family %s", i+1, name, family)
			}
		default:
			t.Errorf("line %d: not exposition format: %q", i+1, line)
		}
	}
}

func TestMetricsEscaping(t *testing.T) {
	var p promWriter
	p.head("x_total", "counter", "h")
	p.sample("x_total", 1, "l", "a\"b\\c\nd")
	want := "# HELP x_total h\n# TYPE x_total counter\n" + `x_total{l="a\"b\\c\nd"} 1` + "\n"
	if p.b.String() != want {
		t.Errorf("got %q want %q", p.b.String(), want)
	}
	checkExposition(t, p.b.String())
}

func TestHTTPTransferEvents(t *testing.T) {
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(1024)
	defer cancel()
	dir := t.TempDir()
	big := strings.Repeat("x", 24<<20)
	writeTree(t, dir, map[string]string{"vmlinuz": big, "small.cfg": "tiny"})
	_, addr, _ := startServer(t, Config{Root: dir, Events: bus})

	resp, err := http.Get("http://" + addr + "/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != int64(len(big)) {
		t.Fatalf("got %d bytes", n)
	}
	http.Get("http://" + addr + "/small.cfg") //nolint: below threshold, no events
	var got []events.Event
	waitFor(t, "transfer done", func() bool {
		for {
			select {
			case e := <-ch:
				got = append(got, e)
			default:
				return len(got) > 0 && got[len(got)-1].Kind == events.TransferDone
			}
		}
	})
	if got[0].Kind != events.TransferStarted || got[0].Proto != "http" || got[0].File != "vmlinuz" || got[0].Total != int64(len(big)) {
		t.Errorf("start: %+v", got[0])
	}
	last := got[len(got)-1]
	if last.Bytes != int64(len(big)) || last.ID != got[0].ID {
		t.Errorf("done: %+v", last)
	}

	// A client that hangs up half-way produces TransferFailed with the bytes it got.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /vmlinuz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	waitFor(t, "transfer failed", func() bool {
		for {
			select {
			case e := <-ch:
				if e.Kind == events.TransferFailed {
					if e.Bytes <= 0 || e.Bytes >= int64(len(big)) {
						t.Errorf("failed event bytes %d", e.Bytes)
					}
					return true
				}
			default:
				return false
			}
		}
	})
}

func TestEventStream(t *testing.T) {
	bus := events.NewBus()
	_, addr, _ := startServer(t, Config{Root: t.TempDir(), Status: true, Events: bus})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%v %v", err, resp)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		bus.Publish(events.Event{Kind: events.DHCP, Msg: "OFFER", MAC: "52:54:00:00:00:20", Client: netip.MustParseAddrPort("10.50.0.20:68")})
	}()
	var names []string
	var sawMAC bool
	sc := bufio.NewScanner(resp.Body)
	for len(names) < 3 && sc.Scan() {
		l := sc.Text()
		if name, ok := strings.CutPrefix(l, "event: "); ok {
			names = append(names, name)
		}
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, "52:54:00:00:00:20") && len(names) == 3 {
			sawMAC = true
		}
	}
	if strings.Join(names, ",") != "snapshot,event,snapshot" {
		t.Errorf("stream: %v", names)
	}
	if sc.Scan() && strings.Contains(sc.Text(), `"stage":"dhcp"`) {
		sawMAC = true
	} else {
		t.Logf("line after third event name: %s", sc.Text())
	}
	if !sawMAC {
		t.Errorf("second snapshot lacks the client")
	}
}

//go:build linux

package dhcpd

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

// TestPerfdhcpSideBySide measures DORA exchanges per second with perfdhcp (relay mode, from
// its own namespace) against this server with the durable lease store and against dnsmasq
// with its lease file, both on the same disk, interleaved run by run. It only reports
// numbers (a benchmark, never a timed assertion) and runs only with PXE_EDGE_PERF=1:
//
//	PXE_EDGE_PERF=1 go test -run TestPerfdhcpSideBySide -v ./pkg/dhcpd
func TestPerfdhcpSideBySide(t *testing.T) {
	if os.Getenv("PXE_EDGE_PERF") != "1" {
		t.Skip("set PXE_EDGE_PERF=1 to run the side-by-side perfdhcp measurement")
	}
	netlab.RequireCommands(t, "perfdhcp", "dnsmasq")
	const runs, secs, clients = 3, 8, 20000
	perf := func(t *testing.T, load *netlab.NS) (rate float64, out string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
		defer cancel()
		b, _ := load.Run(ctx, "perfdhcp", "-4", "-l", "10.40.0.2", "-r", "20000", "-R", strconv.Itoa(clients),
			"-p", strconv.Itoa(secs), "10.40.0.1")
		m := regexp.MustCompile(`(?i)rate: ([0-9.]+) 4-way exchanges/second`).FindStringSubmatch(string(b))
		if m == nil {
			return 0, string(b)
		}
		rate, _ = strconv.ParseFloat(m[1], 64)
		return rate, string(b)
	}
	var ours, theirs []float64
	for i := range runs {
		for _, who := range []string{"pxe-edge", "dnsmasq"} {
			t.Run(fmt.Sprintf("%s-%d", who, i), func(t *testing.T) {
				l := netlab.New(t)
				srv, load := l.Namespace("srv"), l.Namespace("load")
				l.Veth(srv, "eth0", "10.40.0.1/16", load, "eth0", "10.40.0.2/16")
				dir := t.TempDir()
				if who == "pxe-edge" {
					st, _, err := lease.Open(dir, lease.Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer st.Close()
					cfg := labConfig()
					cfg.Store = st
					cfg.RatePerMAC = -1
					cfg.Subnet = netip.MustParsePrefix("10.40.0.0/16")
					cfg.Begin, cfg.End = netip.MustParseAddr("10.40.1.0"), netip.MustParseAddr("10.40.200.255")
					labServer(t, srv, "eth0", cfg)
				} else {
					srv.Start("dnsmasq", "-d", "--port=0", "--interface=eth0", "--bind-interfaces", "--no-ping",
						"--dhcp-range=10.40.1.0,10.40.200.255,255.255.0.0,1h", "--dhcp-leasefile="+dir+"/dnsmasq.leases",
						"--dhcp-lease-max=100000", "--log-facility=/dev/null")
					time.Sleep(500 * time.Millisecond)
				}
				rate, out := perf(t, load)
				if rate == 0 {
					t.Fatalf("perfdhcp gave no rate:\n%s", out)
				}
				t.Logf("%s run %d: %.1f DORA/s", who, i, rate)
				for _, re := range []string{`(?m)^\s*drops: .*$`, `(?m)^\s*avg delay: .*$`, `(?m)^\s*std deviation: .*$`} {
					for _, m := range regexp.MustCompile(re).FindAllString(out, -1) {
						t.Logf("  %s", m)
					}
				}
				if who == "pxe-edge" {
					ours = append(ours, rate)
				} else {
					theirs = append(theirs, rate)
				}
			})
		}
	}
	if len(ours) == runs && len(theirs) == runs {
		med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
		mo, mt := med(ours), med(theirs)
		t.Logf("median DORA/s: pxe-edge %.1f, dnsmasq %.1f, ratio %.2f (shared noisy 2-core machine)", mo, mt, mo/mt)
	}
}

package daemon_test

import (
	"context"
	be "encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// floodParams are the rate (DISCOVERs from new MACs per second) and length of
// TestFloodOfNewMACs: PXE_EDGE_FLOOD_RATE and PXE_EDGE_FLOOD_SECONDS, default 2000 for 8 s
// (bench/reliability.sh: 20000 for 60 s).
func floodParams(t *testing.T) (rate int, dur time.Duration) {
	rate, secs := 2000, 8
	for _, v := range []struct {
		env string
		p   *int
		max int
	}{{"PXE_EDGE_FLOOD_RATE", &rate, 100000}, {"PXE_EDGE_FLOOD_SECONDS", &secs, 600}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > v.max {
				t.Fatalf("%s=%q: want 1..%d", v.env, s, v.max)
			}
			*v.p = n
		}
	}
	return rate, time.Duration(secs) * time.Second
}

// A neighbour floods DISCOVERs from a new random MAC each (DHCP starvation): the client
// holding a lease renews, the reserved client gets its address, and a new real client
// (busybox udhcpc) gets a lease within 10 s, though the flood has long taken every free
// address; pxe-edge's memory stays bounded.
func TestFloodOfNewMACs(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	rate, dur := floodParams(t)
	lb := newLab(t, "10.60.26.1/24", "10.60.26.2/24")
	dir, _ := netbootDir(t, "f.bin", 16)
	static := filepath.Join(t.TempDir(), "static.json")
	if err := os.WriteFile(static, []byte(`{"dhcp":{"binding":{"02:aa:00:00:00:09":{"ipaddr":"10.60.26.9"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.26.1",
		"-b", "10.60.26.100", "-e", "10.60.26.250", "--state-dir", t.TempDir(), "--static-config", static, "--no-tftp")
	waitFor(t, p, "msg=\"DHCP answering\"")
	var relay *net.UDPConn
	if err := lb.cli.Do(func() (err error) {
		relay, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 60, 26, 2), Port: 67})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	rc := newRelayClient(relay, "10.60.26.1", "10.60.26.2")
	known := [6]byte{0x02, 0xbb, 0, 0, 0, 1}
	knownIP, err := rc.dora(known, 1)
	if err != nil {
		t.Fatalf("lease before the flood: %v\n%s", err, p.Output())
	}

	var sent atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	floodDone := make(chan error, 1)
	go func() { floodDone <- flood(ctx, lb.cli, rate, &sent) }()
	time.Sleep(time.Second) // the flood has the pool by now

	// With every free address offered to flood MACs, the clients that matter still get in.
	retry := func(what string, f func(xid uint32) error) {
		var err error
		for i := uint32(0); i < 8; i++ {
			if err = f(1000 + i*2); err == nil {
				return
			}
		}
		t.Errorf("%s during the flood: %v", what, err)
	}
	retry("renewal of a held lease", func(xid uint32) error { return rc.renew(known, xid, knownIP) })
	retry("reserved client", func(xid uint32) error {
		ip, err := rc.dora([6]byte{0x02, 0xaa, 0, 0, 0, 9}, xid+100)
		if err == nil && ip != netip.MustParseAddr("10.60.26.9") {
			t.Errorf("reserved client got %v, want 10.60.26.9", ip)
		}
		return err
	})
	start := time.Now()
	ip, err := udhcpc(t, lb.cli, "-t", "10")
	took := time.Since(start)
	if err != nil || took > 10*time.Second {
		t.Errorf("new real client during the flood: %q %v after %v\n%s", ip, err, took, tail(p.Output(), 40))
	}
	if err := <-floodDone; err != nil {
		t.Fatal(err)
	}
	hwm := vmHWM(t, p.Cmd.Process.Pid)
	t.Logf("flood: %d DISCOVERs from new MACs in %v (%.0f/s); new client's lease in %v; pxe-edge VmHWM %d KiB",
		sent.Load(), dur, float64(sent.Load())/dur.Seconds(), took.Round(time.Millisecond), hwm)
	if hwm > 64<<10 {
		t.Errorf("VmHWM %d KiB under the flood: memory is not bounded", hwm)
	}
	stopOK(t, p)
}

// flood sends DISCOVERs, each from a new MAC, on eth0 of ns at rate per second until ctx
// ends; sent counts them.
func flood(ctx context.Context, ns *netlab.NS, rate int, sent *atomic.Int64) error {
	var c *packet.Conn
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, 0, nil)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	var m rawdhcp.Message
	frame := make([]byte, 0, 600)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := max(rate/100, 1)
	n := uint32(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for i := 0; i < perTick; i++ {
			n++
			mac := [6]byte{0x06, 0xf1, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
			m.Reset()
			m.Op, m.HType, m.HLen, m.XID, m.Flags = rawdhcp.BootRequest, 1, 6, n, rawdhcp.FlagBroadcast
			copy(m.CHAddr[:], mac[:])
			m.SetMessageType(rawdhcp.Discover)
			payload, err := m.Append(nil)
			if err != nil {
				return err
			}
			frame = append(frame[:0], bcast.HardwareAddr...)
			frame = append(frame, mac[:]...)
			frame = be.BigEndian.AppendUint16(frame, 0x0800)
			frame, err = rawdhcp.AppendIPv4UDP(frame, rawdhcp.IPv4UDP{
				Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67")}, payload)
			if err != nil {
				return err
			}
			if _, err := c.WriteTo(frame, bcast); err != nil {
				continue // a full socket buffer: the flood goes on
			}
			sent.Add(1)
		}
	}
}

// vmHWM is a process's peak resident set in KiB.
func vmHWM(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

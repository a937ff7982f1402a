package daemon

import (
	"context"
	"github.com/pxe-edge/pxe-edge/internal/config"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

func mac6(s string) [6]byte {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return [6]byte(hw)
}

// The allow list holds exactly the clients that got a DHCP reply and whose request was
// iPXE's; other events and other clients leave it alone.
func TestRAServiceFeed(t *testing.T) {
	ipxe, pxe, later, none := mac6("52:54:00:00:00:01"), mac6("52:54:00:00:00:02"), mac6("52:54:00:00:00:03"), mac6("52:54:00:00:00:04")
	bus := events.NewBus()
	s := newRAService("unused", bus, slog.New(slog.DiscardHandler))
	evs, cancel := bus.Subscribe(16)
	done := make(chan struct{})
	go func() { s.feed(evs); close(done) }()
	mac := func(m [6]byte) string { return net.HardwareAddr(m[:]).String() }
	reply := func(m string, kind string) {
		bus.Publish(events.Event{Kind: events.DHCP, Proto: "dhcp", Msg: "offer", MAC: m, Machine: events.Machine{Kind: kind}})
	}
	reply(mac(ipxe), boot.KindIPXE)
	reply(mac(pxe), "uefi-x64")
	bus.Publish(events.Event{Kind: events.TransferStarted, Proto: "tftp", MAC: mac(none)})
	reply(mac(none), "")
	reply("not-a-mac", boot.KindIPXE)
	// The firmware's PXE got its reply; then the iPXE it loaded asks from the same MAC.
	reply(mac(later), "uefi-x64")
	deadline := time.Now().Add(5 * time.Second)
	for !s.allow.Contains(ipxe, time.Now()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reply(mac(later), boot.KindIPXE)
	cancel()
	<-done
	now := time.Now()
	for _, c := range []struct {
		name string
		mac  [6]byte
		want bool
	}{{"iPXE", ipxe, true}, {"firmware PXE", pxe, false}, {"no DHCP facts", none, false}, {"PXE then iPXE", later, true}} {
		if got := s.allow.Contains(c.mac, now); got != c.want {
			t.Errorf("%s: allowed = %v, want %v", c.name, got, c.want)
		}
	}
}

// The service on a real interface, fed through the bus: rdisc6 (Debian's ndisc6) from a
// client gets nothing until a DHCP event says the client is iPXE, then an advertisement of
// lifetime 0 with M=O=0; the service stops with its context.
func TestRAServiceLab(t *testing.T) {
	netlab.RequireCommands(t, "rdisc6")
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	cli.MustRun("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
	l.Veth(srv, "eth0", "", cli, "eth0", "")
	cliMAC := mac6(strings.TrimSpace(cli.MustRun("cat", "/sys/class/net/eth0/address")))

	bus := events.NewBus()
	s := newRAService("eth0", bus, slog.New(slog.DiscardHandler))
	open := s.listen
	s.listen = func() (c *rawdhcp.RAConn, err error) {
		err = srv.Do(func() error { c, err = open(); return err })
		return c, err
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { s.Stop(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the RA service did not stop")
		}
	})
	rdisc := func() string {
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		out, _ := cli.Run(rctx, "rdisc6", "-1", "-r", "2", "-w", "1200", "eth0")
		return string(out)
	}
	for deadline := time.Now().Add(5 * time.Second); s.conn.Load() == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the RA service did not open its socket")
		}
	}
	if out := rdisc(); !strings.Contains(out, "No response") {
		t.Fatalf("before any DHCP event: want no response:\n%s", out)
	}
	bus.Publish(events.Event{Kind: events.DHCP, Proto: "dhcp", Msg: "offer", MAC: net.HardwareAddr(cliMAC[:]).String(),
		Machine: events.Machine{Kind: boot.KindIPXE}})
	time.Sleep(rawdhcp.DefaultRAGap) // the waiting solicitation is answered at once; then the gap
	out := rdisc()
	for _, want := range []string{"Router lifetime           :            0 (0x00000000) seconds",
		"Stateful address conf.    :           No", "Stateful other conf.      :           No"} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}
}

// The RA service is in the daemon's list only where DHCP runs on the managed interface and
// --ipxe-ra is on: never without DHCP (nothing would tell it who is iPXE) nor without an
// interface of the daemon's own. On an interface that does not exist (yet) it keeps retrying
// until it is stopped.
func TestRAServiceGating(t *testing.T) {
	logs := &Loggers{Main: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		name   string
		ifname string
		dhcp   bool
		ra     bool
		want   bool
	}{
		{"no DHCP", "pxet-none0", false, true, false},
		{"no interface", "", true, true, false},
		{"--no-ipxe-ra", "pxet-none0", true, false, false},
		{"DHCP on the managed interface", "pxet-none0", true, true, true},
	} {
		cfg := config.Defaults()
		cfg.UseDHCP, cfg.IPXERA = c.dhcp, c.ra
		d := &Daemon{cfg: cfg, logs: logs, bus: events.NewBus(), ifname: c.ifname}
		var s *raService
		for _, svc := range d.services() {
			if r, ok := svc.(*raService); ok {
				s = r
			}
		}
		if (s != nil) != c.want {
			t.Errorf("%s: in the list = %v, want %v", c.name, s != nil, c.want)
		}
		if s == nil {
			continue
		}
		if s.ifname != c.ifname {
			t.Errorf("%s: serves %q, want %q", c.name, s.ifname, c.ifname)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the missing interface's first open fails
		done := make(chan struct{})
		go func() { s.Stop(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the RA service did not stop", c.name)
		}
	}
}

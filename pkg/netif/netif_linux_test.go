//go:build linux

package netif

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/vishvananda/netlink"
)

func hasAddr(t *testing.T, ns *netlab.NS, dev, cidr string) bool {
	t.Helper()
	return strings.Contains(ns.MustRun("ip", "-4", "-o", "addr", "show", "dev", dev), " "+cidr+" ")
}

func TestAddrAddedAndRemovedOnlyIfOurs(t *testing.T) {
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", "", cli, "eth0", "10.60.1.50/24")
	srv.MustRun("ip", "link", "set", "eth0", "down")
	err := srv.Do(func() error {
		i, err := Open("eth0", netip.MustParsePrefix("10.60.1.2/24"), nil)
		if err != nil {
			return err
		}
		if err := i.Up(); err != nil {
			return err
		}
		added, err := i.EnsureAddr()
		if err != nil || !added {
			t.Errorf("first EnsureAddr: added=%v err=%v", added, err)
		}
		added, err = i.EnsureAddr()
		if err != nil || added {
			t.Errorf("second EnsureAddr must be a no-op: added=%v err=%v", added, err)
		}
		st, err := i.State()
		if err != nil || !st.Up {
			t.Errorf("state %+v %v", st, err)
		}
		if !hasAddr(t, srv, "eth0", "10.60.1.2/24") {
			t.Error("address not on the link")
		}
		if err := i.RemoveAddr(); err != nil {
			return err
		}
		if hasAddr(t, srv, "eth0", "10.60.1.2/24") {
			t.Error("address we added is still there after RemoveAddr")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// An address the administrator configured (here with another prefix length) is used
	// as it is and never removed.
	srv.MustRun("ip", "addr", "add", "10.60.1.2/16", "dev", "eth0")
	err = srv.Do(func() error {
		i, err := Open("eth0", netip.MustParsePrefix("10.60.1.2/24"), nil)
		if err != nil {
			return err
		}
		if added, err := i.EnsureAddr(); err != nil || added {
			t.Errorf("EnsureAddr with the address present: added=%v err=%v", added, err)
		}
		return i.RemoveAddr()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !hasAddr(t, srv, "eth0", "10.60.1.2/16") {
		t.Error("the administrator's address was removed")
	}
}

func TestWatchCarrier(t *testing.T) { testWatchCarrier(t, "10.60.2") }

// Without netlink events (subscription refused) Watch polls and still sees every change.
func TestWatchCarrierPolling(t *testing.T) {
	testWatchCarrier(t, "10.60.3", refuseSubscribe)
}

// refuseSubscribe makes i's netlink subscription fail, so Watch polls.
func refuseSubscribe(i *Iface) {
	i.linkSubscribe = func(chan<- netlink.LinkUpdate, <-chan struct{}, netlink.LinkSubscribeOptions) error {
		return errors.New("refused")
	}
}

// testWatchCarrier checks Watch's carrier events; tune, when given, adjusts the Iface first.
func testWatchCarrier(t *testing.T, net24 string, tune ...func(*Iface)) {
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", net24+".2/24", cli, "eth0", net24+".50/24")
	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- srv.Do(func() error {
			i, err := Open("eth0", netip.Prefix{}, nil)
			if err != nil {
				return err
			}
			for _, f := range tune {
				f(i)
			}
			return i.Watch(ctx, func(e Event) { events <- e })
		})
	}()
	want := func(carrier bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Carrier == carrier {
					return
				}
			case <-deadline:
				t.Fatalf("no event with carrier=%v", carrier)
			}
		}
	}
	want(true) // the initial state
	for n := 0; n < 3; n++ {
		cli.MustRun("ip", "link", "set", "eth0", "down")
		want(false)
		cli.MustRun("ip", "link", "set", "eth0", "up")
		want(true)
	}
	cancel()
	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatchAddr(t *testing.T) { testWatchAddr(t, "10.60.4") }

// Without netlink events the poll sees the address go too.
func TestWatchAddrPolling(t *testing.T) {
	testWatchAddr(t, "10.60.5", refuseSubscribe)
}

// An address removed while the cable stays in is reported (Event.Addr false), and its
// return too; the carrier stays up throughout.
func testWatchAddr(t *testing.T, net24 string, tune ...func(*Iface)) {
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", net24+".2/24", cli, "eth0", net24+".50/24")
	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- srv.Do(func() error {
			i, err := Open("eth0", netip.MustParsePrefix(net24+".2/24"), nil)
			if err != nil {
				return err
			}
			for _, f := range tune {
				f(i)
			}
			return i.Watch(ctx, func(e Event) { events <- e })
		})
	}()
	want := func(addr bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Addr == addr {
					if !e.Carrier {
						t.Errorf("carrier reported lost with the cable in: %+v", e)
					}
					return
				}
			case <-deadline:
				t.Fatalf("no event with Addr=%v", addr)
			}
		}
	}
	want(true)
	for n := 0; n < 3; n++ {
		srv.MustRun("ip", "addr", "flush", "dev", "eth0")
		want(false)
		srv.MustRun("ip", "addr", "add", net24+".2/24", "dev", "eth0")
		want(true)
	}
	// Another address coming and going is no event about ours.
	srv.MustRun("ip", "addr", "add", net24+".9/24", "dev", "eth0")
	srv.MustRun("ip", "addr", "del", net24+".9/24", "dev", "eth0")
	select {
	case e := <-events:
		if !e.Addr {
			t.Errorf("a foreign address changed our Addr: %+v", e)
		}
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

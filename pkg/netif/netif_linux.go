//go:build linux

package netif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Iface is one managed interface.
type Iface struct {
	name   string
	prefix netip.Prefix
	log    *slog.Logger

	// linkSubscribe is netlink's subscription; Watch falls back to polling when it fails,
	// which a test provokes by replacing it on its own Iface.
	linkSubscribe func(chan<- netlink.LinkUpdate, <-chan struct{}, netlink.LinkSubscribeOptions) error

	mu    sync.Mutex
	added bool // we put prefix on the link, so Close removes it
}

// Open resolves the interface by name. prefix is the server address with its prefix length
// (192.168.2.2/24); it may be invalid when no address is to be managed.
func Open(name string, prefix netip.Prefix, log *slog.Logger) (*Iface, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := netlink.LinkByName(name); err != nil {
		return nil, fmt.Errorf("netif: interface %q: %w", name, err)
	}
	return &Iface{name: name, prefix: prefix, log: log, linkSubscribe: netlink.LinkSubscribeWithOptions}, nil
}

// Name returns the interface name.
func (i *Iface) Name() string { return i.name }

// Added reports whether the server address is on the link because we added it.
func (i *Iface) Added() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.added
}

func permErr(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("netif: %s: %w (needs CAP_NET_ADMIN: run as root or grant the capability)", op, err)
	}
	return fmt.Errorf("netif: %s: %w", op, err)
}

// State reads the link's current state and IPv4 addresses.
func (i *Iface) State() (State, error) {
	l, err := netlink.LinkByName(i.name)
	if err != nil {
		return State{}, fmt.Errorf("netif: interface %q: %w", i.name, err)
	}
	a := l.Attrs()
	st := State{Index: a.Index, Up: a.RawFlags&unix.IFF_UP != 0, Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("netif: addresses of %s: %w", i.name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP.To4())
		if !ok {
			continue
		}
		ones, _ := ad.Mask.Size()
		st.Addrs = append(st.Addrs, netip.PrefixFrom(ip, ones))
	}
	return st, nil
}

// Up sets the link administratively up; a link already up is left alone, so this needs no
// privilege when there is nothing to do.
func (i *Iface) Up() error {
	l, err := netlink.LinkByName(i.name)
	if err != nil {
		return fmt.Errorf("netif: interface %q: %w", i.name, err)
	}
	if l.Attrs().RawFlags&unix.IFF_UP != 0 {
		return nil
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return permErr("set "+i.name+" up", err)
	}
	i.log.Info("link set up", "iface", i.name)
	return nil
}

// EnsureAddr adds the server address to the link unless it is already there (with any
// prefix length). It is idempotent and reports whether it added the address this time.
func (i *Iface) EnsureAddr() (bool, error) {
	if !i.prefix.IsValid() {
		return false, nil
	}
	l, err := netlink.LinkByName(i.name)
	if err != nil {
		return false, fmt.Errorf("netif: interface %q: %w", i.name, err)
	}
	st, err := i.State()
	if err != nil {
		return false, err
	}
	for _, p := range st.Addrs {
		if p.Addr() == i.prefix.Addr() {
			return false, nil
		}
	}
	ipn := &net.IPNet{IP: i.prefix.Addr().AsSlice(), Mask: net.CIDRMask(i.prefix.Bits(), 32)}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, permErr(fmt.Sprintf("add %v to %s", i.prefix, i.name), err)
	}
	i.mu.Lock()
	i.added = true
	i.mu.Unlock()
	i.log.Info("address added", "iface", i.name, "addr", i.prefix.String())
	return true, nil
}

// RemoveAddr removes the server address, but only if EnsureAddr added it: an address the
// administrator configured stays.
func (i *Iface) RemoveAddr() error {
	i.mu.Lock()
	added := i.added
	i.added = false
	i.mu.Unlock()
	if !added {
		return nil
	}
	l, err := netlink.LinkByName(i.name)
	if err != nil {
		return fmt.Errorf("netif: interface %q: %w", i.name, err)
	}
	ipn := &net.IPNet{IP: i.prefix.Addr().AsSlice(), Mask: net.CIDRMask(i.prefix.Bits(), 32)}
	if err := netlink.AddrDel(l, &netlink.Addr{IPNet: ipn}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return permErr(fmt.Sprintf("remove %v from %s", i.prefix, i.name), err)
	}
	i.log.Info("address removed", "iface", i.name, "addr", i.prefix.String())
	return nil
}

// Watch reports changes of the link to fn until ctx ends, starting with the current state:
// carrier and administrative state (netlink link events) and whether the server address is
// on the link (netlink address events). It subscribes again, after re-reading the state,
// if the kernel drops a subscription (e.g. on a receive-buffer overrun). fn runs on Watch's
// goroutine; Watch returns only after the subscriptions' goroutines have ended.
func (i *Iface) Watch(ctx context.Context, fn func(Event)) error {
	var last *Event
	emit := func(e Event) {
		if last != nil && *last == e {
			return
		}
		last = &e
		fn(e)
	}
	for attempt := 0; ; attempt++ {
		ch := make(chan netlink.LinkUpdate, 16)
		done := make(chan struct{})
		var cbErr error
		var cbMu sync.Mutex
		onErr := func(err error) {
			cbMu.Lock()
			cbErr = err
			cbMu.Unlock()
		}
		err := i.linkSubscribe(ch, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr})
		if err != nil {
			close(done)
			i.log.Warn("no netlink link events; polling the carrier every second instead", "iface", i.name, "err", err)
			return i.poll(ctx, emit)
		}
		var ach chan netlink.AddrUpdate
		if i.prefix.IsValid() {
			ach = make(chan netlink.AddrUpdate, 16)
			if err := netlink.AddrSubscribeWithOptions(ach, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
				close(done)
				for range ch {
				}
				i.log.Warn("no netlink address events; polling the link every second instead", "iface", i.name, "err", err)
				return i.poll(ctx, emit)
			}
		}
		// Read the state after subscribing, so no change falls between the two.
		emit(i.event())
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case u, ok := <-ch:
				if !ok {
					break loop
				}
				if u.Link == nil || u.Link.Attrs().Name != i.name {
					continue
				}
				if u.Header.Type == unix.RTM_DELLINK {
					emit(Event{Gone: true, Addr: !i.prefix.IsValid()})
					continue
				}
				f := u.IfInfomsg.Flags
				up := f&unix.IFF_UP != 0
				emit(Event{Carrier: up && f&unix.IFF_LOWER_UP != 0, Up: up, Addr: i.hasAddr()})
			case u, ok := <-ach:
				if !ok {
					break loop
				}
				if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP.To4()); !ok || ip != i.prefix.Addr() {
					continue
				}
				e := Event{Gone: true}
				if last != nil {
					e = *last
				}
				e.Addr = u.NewAddr && i.hasAddr()
				if !e.Addr {
					// Every removal is reported, even right after another: whoever restores
					// the address may have done so in between (`ip addr flush` deletes in
					// rounds and can take a restored address away again).
					last = nil
				}
				emit(e)
			}
		}
		close(done)
		// The subscription goroutines close their channels once their sockets close.
		for range ch {
		}
		if ach != nil {
			for range ach {
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		cbMu.Lock()
		e := cbErr
		cbMu.Unlock()
		i.log.Warn("link event subscription ended; subscribing again", "iface", i.name, "err", e)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// event reads the link's state as an Event.
func (i *Iface) event() Event {
	st, err := i.State()
	if err != nil {
		return Event{Gone: true, Addr: !i.prefix.IsValid()}
	}
	return Event{Carrier: st.Carrier && st.Up, Up: st.Up, Addr: i.addrIn(st)}
}

// addrIn reports whether the managed address is among st's (true when none is managed).
func (i *Iface) addrIn(st State) bool {
	if !i.prefix.IsValid() {
		return true
	}
	for _, p := range st.Addrs {
		if p.Addr() == i.prefix.Addr() {
			return true
		}
	}
	return false
}

// hasAddr reads whether the managed address is on the link now.
func (i *Iface) hasAddr() bool {
	st, err := i.State()
	return err == nil && i.addrIn(st)
}

// poll is Watch without netlink events (a sandbox that refuses the multicast group): it reads
// the state every second.
func (i *Iface) poll(ctx context.Context, emit func(Event)) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		emit(i.event())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// DefaultName returns the interface to use when none is configured (see the package
// documentation for the rule).
func DefaultName() (string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", fmt.Errorf("netif: list links: %w", err)
	}
	type cand struct {
		name    string
		index   int
		carrier bool
	}
	var cs []cand
	for _, l := range links {
		a := l.Attrs()
		if !wired("/sys/class/net", l.Type(), a.EncapType, a.Name, a.Flags) {
			continue
		}
		cs = append(cs, cand{a.Name, a.Index, a.RawFlags&unix.IFF_LOWER_UP != 0})
	}
	if len(cs) == 0 {
		return "", ErrNoInterface
	}
	sort.Slice(cs, func(x, y int) bool {
		if cs[x].carrier != cs[y].carrier {
			return cs[x].carrier
		}
		return cs[x].index < cs[y].index
	})
	return cs[0].name, nil
}

var virtualPrefixes = []string{"veth", "docker", "br-", "virbr", "vnet", "tap", "tun", "wg", "zt", "vxlan", "cni", "flannel", "kube", "lxc", "dummy"}

// wired reports whether a link is a physical, wired Ethernet port; sysfs is where its device
// directory is looked up (/sys/class/net).
func wired(sysfs, linkType, encap, name string, flags net.Flags) bool {
	if linkType != "device" || encap != "ether" || flags&net.FlagLoopback != 0 {
		return false
	}
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	sys := sysfs + "/" + name
	if _, err := os.Stat(sys + "/device"); err != nil {
		return false // no backing device: virtual
	}
	for _, w := range []string{"/wireless", "/phy80211"} {
		if _, err := os.Stat(sys + w); err == nil {
			return false
		}
	}
	return true
}

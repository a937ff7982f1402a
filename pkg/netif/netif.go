// Package netif manages the boot-network interface over netlink: it brings the link up, makes
// sure the server address is on it (adding it with the configured prefix only when missing),
// waits for a cable, reports carrier changes, and on exit removes the address only if it added
// it. Watch reports carrier changes and the server address disappearing (netlink link and
// address events), so the daemon can put it back with the cable in. Linux only; on other
// systems every call returns ErrUnsupported.
//
// # Default interface
//
// DefaultName picks the interface when none is configured: among the links that are real
// Ethernet devices (link type ether, not loopback, backed by a device in
// /sys/class/net/NAME/device, not wireless: no /sys/class/net/NAME/wireless or phy80211, and
// not named like a virtual link: veth*, docker*, br-*, virbr*, vnet*, tap*, tun*, wg*), the
// one with the lowest interface index that has a carrier; if none has a carrier yet, the one
// with the lowest index, and the daemon waits for the cable on it. On a Raspberry Pi that is
// eth0 (or end0), never wlan0.
package netif

import (
	"errors"
	"net/netip"
)

// ErrUnsupported is returned on systems without netlink.
var ErrUnsupported = errors.New("netif: interface management needs Linux netlink")

// ErrNoInterface is returned by DefaultName when no wired interface exists.
var ErrNoInterface = errors.New("netif: no wired Ethernet interface found; name one with --iface")

// Event is a change of the managed link's state.
type Event struct {
	Carrier bool // a cable is plugged in and the link is up (IFF_LOWER_UP)
	Up      bool // administratively up (IFF_UP)
	Gone    bool // the interface was deleted
	// Addr says the managed server address is on the link (always true when the Iface
	// manages no address). It turns false when someone removes the address while the cable
	// stays in, so the daemon can put it back.
	Addr bool
}

// State is the link's state at one moment.
type State struct {
	Index   int
	Up      bool
	Carrier bool
	Addrs   []netip.Prefix // IPv4 addresses on the link
}

package dhcpd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
)

// ErrReservations wraps every error from parsing a static reservations file.
var ErrReservations = errors.New("static-config")

// Reservation is one static binding from PyPXE's static-config file. Zero-valued fields fall
// back to the server's configuration.
type Reservation struct {
	MAC      [6]byte
	IP       netip.Addr
	Mask     netip.Addr   // "subnet": option 1 for this client
	Router   netip.Addr   // "router": option 3
	DNS      []netip.Addr // "dns": option 6
	ROM      string       // "rom": boot file for this client, overriding the architecture default
	Hostname string       // "hostname" (a pxe-edge extension): option 12
	// SecureBoot ("secureboot", a pxe-edge extension) marks the machine as a Secure Boot
	// machine (true) or not (false), overriding --secure-boot and its profile; nil = not set.
	SecureBoot *bool
	// Group ("group", a pxe-edge extension) names the machine's group, which profiles match.
	Group string
}

// Reservations is an immutable set of static bindings keyed by MAC. A nil *Reservations is
// empty.
type Reservations struct {
	byMAC map[[6]byte]Reservation
}

// jsonBinding is PyPXE's per-MAC record, read unchanged.
type jsonBinding struct {
	IPAddr   string   `json:"ipaddr"`
	Subnet   string   `json:"subnet"`
	Router   string   `json:"router"`
	DNS      []string `json:"dns"`
	ROM      string   `json:"rom"`
	Hostname string   `json:"hostname"`
	// SecureBoot and Group are pxe-edge extensions; PyPXE ignores them.
	SecureBoot *bool  `json:"secureboot"`
	Group      string `json:"group"`
}

// LoadReservations reads PyPXE's static configuration file
// ({"dhcp":{"binding":{"MAC":{"ipaddr":…,"subnet":…,"router":…,"dns":[…],"rom":…}}}}),
// with pxe-edge's extensions "hostname", "secureboot" (true/false) and "group".
// The daemon calls it at start and on SIGHUP, then Server.SetReservations.
func LoadReservations(path string) (*Reservations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReservations, err)
	}
	r, err := ParseReservations(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseReservations decodes the static configuration file's bytes. Unknown keys elsewhere
// in the file are ignored, as PyPXE does; a bad MAC or address is an error naming it.
func ParseReservations(data []byte) (*Reservations, error) {
	var doc struct {
		DHCP struct {
			Binding map[string]jsonBinding `json:"binding"`
		} `json:"dhcp"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReservations, err)
	}
	r := &Reservations{byMAC: make(map[[6]byte]Reservation, len(doc.DHCP.Binding))}
	byIP := make(map[netip.Addr]string)
	keys := make([]string, 0, len(doc.DHCP.Binding))
	for k := range doc.DHCP.Binding {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error messages
	for _, k := range keys {
		jb := doc.DHCP.Binding[k]
		hw, err := net.ParseMAC(strings.TrimSpace(k))
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("%w: binding %q: not an Ethernet MAC address", ErrReservations, k)
		}
		var e Reservation
		copy(e.MAC[:], hw)
		if _, dup := r.byMAC[e.MAC]; dup {
			return nil, fmt.Errorf("%w: binding %q: MAC listed twice", ErrReservations, k)
		}
		addr := func(field, s string) (netip.Addr, error) {
			if s == "" {
				return netip.Addr{}, nil
			}
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || !a.Is4() {
				return netip.Addr{}, fmt.Errorf("%w: binding %q: %s %q is not an IPv4 address", ErrReservations, k, field, s)
			}
			return a, nil
		}
		if e.IP, err = addr("ipaddr", jb.IPAddr); err != nil {
			return nil, err
		}
		if !e.IP.IsValid() {
			return nil, fmt.Errorf("%w: binding %q: ipaddr is required", ErrReservations, k)
		}
		if other, dup := byIP[e.IP]; dup {
			return nil, fmt.Errorf("%w: binding %q: ipaddr %s already reserved for %s", ErrReservations, k, e.IP, other)
		}
		byIP[e.IP] = k
		if e.Mask, err = addr("subnet", jb.Subnet); err != nil {
			return nil, err
		}
		if e.Mask.IsValid() {
			if _, err := PrefixFromMask(e.IP, e.Mask); err != nil {
				return nil, fmt.Errorf("%w: binding %q: subnet %s is not a netmask", ErrReservations, k, e.Mask)
			}
		}
		if e.Router, err = addr("router", jb.Router); err != nil {
			return nil, err
		}
		for _, d := range jb.DNS {
			a, err := addr("dns", d)
			if err != nil {
				return nil, err
			}
			e.DNS = append(e.DNS, a)
		}
		if len(jb.ROM) > 255 {
			return nil, fmt.Errorf("%w: binding %q: rom is longer than 255 bytes", ErrReservations, k)
		}
		if len(jb.Hostname) > 255 {
			return nil, fmt.Errorf("%w: binding %q: hostname is longer than 255 bytes", ErrReservations, k)
		}
		if len(jb.Group) > 64 || strings.ContainsFunc(jb.Group, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("%w: binding %q: group must be at most 64 bytes without control characters", ErrReservations, k)
		}
		e.ROM, e.Hostname, e.SecureBoot, e.Group = jb.ROM, jb.Hostname, jb.SecureBoot, jb.Group
		r.byMAC[e.MAC] = e
	}
	return r, nil
}

// Lookup returns the reservation for mac.
func (r *Reservations) Lookup(mac [6]byte) (Reservation, bool) {
	if r == nil {
		return Reservation{}, false
	}
	e, ok := r.byMAC[mac]
	return e, ok
}

// Len returns the number of reservations.
func (r *Reservations) Len() int {
	if r == nil {
		return 0
	}
	return len(r.byMAC)
}

// list returns the reservations sorted by address.
func (r *Reservations) list() []Reservation {
	if r == nil {
		return nil
	}
	out := make([]Reservation, 0, len(r.byMAC))
	for _, e := range r.byMAC {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// check verifies the reservations against the served subnet and our own address.
func (r *Reservations) check(subnet netip.Prefix, server netip.Addr) error {
	for _, e := range r.list() {
		mac := net.HardwareAddr(e.MAC[:]).String()
		if !subnet.Contains(e.IP) {
			return fmt.Errorf("%w: binding %s: ipaddr %s is outside the subnet %s", ErrReservations, mac, e.IP, subnet)
		}
		if e.IP == server {
			return fmt.Errorf("%w: binding %s: ipaddr %s is the server's own address", ErrReservations, mac, e.IP)
		}
		if e.IP == subnet.Addr() || e.IP == BroadcastOf(subnet) {
			return fmt.Errorf("%w: binding %s: ipaddr %s is the subnet's network or broadcast address", ErrReservations, mac, e.IP)
		}
	}
	return nil
}

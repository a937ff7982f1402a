package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

// LeaseStore is what the server needs from the durable lease store; *lease.Store
// implements it. Commit must return only once the lease is on disk.
type LeaseStore interface {
	Commit(ctx context.Context, l lease.Lease) error
	Touch(mac net.HardwareAddr, expiry time.Time) error
	All() []lease.Lease
	// Health tells whether the store can write (a full disk makes it degraded until space
	// returns); while it cannot, no new client is offered an address.
	Health() lease.Health
}

// Mode says how the server answers.
type Mode uint8

// Modes.
const (
	// ModeFull hands out addresses and boot information (`--dhcp`).
	ModeFull Mode = iota + 1
	// ModeProxy answers only PXE/HTTP clients, with boot information and no address, beside
	// another DHCP server (`--dhcp-proxy`).
	ModeProxy
)

// String returns "full" or "proxy", the names the events bus uses.
func (m Mode) String() string {
	switch m {
	case ModeFull:
		return "full"
	case ModeProxy:
		return "proxy"
	}
	return "unknown"
}

// Defaults applied by Config.setDefaults when a field is zero.
const (
	DefaultLeaseTime         = 24 * time.Hour
	DefaultOfferHold         = 60 * time.Second
	DefaultDeclineQuarantine = 10 * time.Minute
	DefaultConflictHold      = 10 * time.Minute
	DefaultProbeWait         = 150 * time.Millisecond
	DefaultProbeCache        = 60 * time.Second
	DefaultWarnInterval      = time.Minute
	DefaultRatePerMAC        = 20 // messages per second per client MAC
	DefaultRateBurst         = 40
)

// Config is everything the server needs from flags and the JSON configuration. The daemon
// fills it; Validate refuses an inconsistent one with an error naming the setting.
type Config struct {
	// Mode is ModeFull or ModeProxy; SetMode changes it at run time (auto mode).
	Mode Mode
	// Boot is the boot policy's configuration (pkg/boot); its ROM field is filled per
	// client from the reservation.
	Boot boot.Config
	// SecureBootFor, when set, says whether the machine with this MAC, static-lease group
	// ("" = none) and option 93 architecture (archKnown false = none sent) is a Secure Boot
	// machine by its profile (pkg/profiles Set.SecureBootFor): ok false = the profiles say
	// nothing. A reservation's "secureboot" takes precedence over it, and it over
	// Boot.SecureBoot (--secure-boot). It is called per boot decision and must not block.
	SecureBootFor func(mac [6]byte, group string, arch uint16, archKnown bool) (on, ok bool)
	// Store makes leases durable; nil keeps them in memory only (tests, proxy mode).
	Store LeaseStore
	// Bus receives DHCP and LeaseChanged events; nil drops them.
	Bus *events.Bus
	// CommitTimeout bounds the wait for a durable commit before an ACK; default 5 s.
	CommitTimeout time.Duration
	// Interface is the name of the one interface served, for log lines (the caller opens
	// the sockets on it).
	Interface string
	// ServerIP is our address on Interface (`--dhcp-server-ip`); it is option 54.
	ServerIP netip.Addr
	// Subnet is the served subnet: ServerIP with the `--dhcp-subnet` mask, any prefix length
	// (PrefixFromMask builds it).
	Subnet netip.Prefix
	// Begin and End bound the dynamic pool (`--dhcp-begin`, `--dhcp-end`), inclusive.
	Begin, End netip.Addr
	// Router is option 3 (`--dhcp-router`); invalid means none.
	Router netip.Addr
	// DNS is option 6, in order (`--dhcp-dns`).
	DNS []netip.Addr
	// Domain is option 15; empty means none.
	Domain string
	// RootPath is option 17, sent only to clients that ask for it (an initramfs booting a
	// diskless root: Debian's nbdroot=dhcp reads "server:port/export"); empty means none.
	RootPath string
	// Broadcast is option 28; invalid means computed from Subnet.
	Broadcast netip.Addr
	// LeaseTime is option 51; T1 (58) and T2 (59) are 0.5 and 0.875 of it.
	LeaseTime time.Duration
	// OfferHold is how long an offered address stays set aside for its client.
	OfferHold time.Duration
	// Authoritative makes the server NAK a REQUEST for an address it would not give the
	// client (INIT-REBOOT, RENEWING, REBINDING). Without it such requests are ignored.
	Authoritative bool
	// Whitelist answers only MACs with a reservation (`--dhcp-whitelist`).
	Whitelist bool
	// Reservations are the static bindings (`--static-config`); replace them at run time
	// with Server.SetReservations.
	Reservations *Reservations
	// DeclineQuarantine is how long a DECLINEd address is kept out of the pool.
	DeclineQuarantine time.Duration
	// ConflictHold is how long an address that answered an ARP probe is kept out.
	ConflictHold time.Duration
	// ProbeWait is how long the ARP probe waits for a reply before an address counts as
	// unused; negative disables probing.
	ProbeWait time.Duration
	// ProbeCache is how long a probe result is reused.
	ProbeCache time.Duration
	// WarnInterval bounds repeated warnings (pool exhausted, rogue server) to one each per
	// interval.
	WarnInterval time.Duration
	// RatePerMAC and RateBurst bound the messages handled per client MAC (token bucket);
	// RatePerMAC < 0 disables the limit.
	RatePerMAC float64
	RateBurst  int
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// PrefixFromMask turns an address and a dotted mask ("255.255.252.0") into the subnet
// prefix, refusing masks that are not contiguous.
func PrefixFromMask(ip, mask netip.Addr) (netip.Prefix, error) {
	if !ip.Is4() || !mask.Is4() {
		return netip.Prefix{}, errors.New("dhcp-subnet: server IP and mask must be IPv4")
	}
	m := u32(mask)
	bits := 0
	for bits < 32 && m&(1<<(31-bits)) != 0 {
		bits++
	}
	if bits < 32 && m<<bits != 0 {
		return netip.Prefix{}, fmt.Errorf("dhcp-subnet: %s is not a contiguous netmask", mask)
	}
	return netip.PrefixFrom(ip, bits).Masked(), nil
}

// MaskOf returns the dotted mask of a prefix (option 1).
func MaskOf(p netip.Prefix) netip.Addr {
	bits := p.Bits()
	var m uint32
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return a4(m)
}

// BroadcastOf returns the directed broadcast address of p.
func BroadcastOf(p netip.Prefix) netip.Addr {
	return a4(u32(p.Masked().Addr()) | ^u32(MaskOf(p)))
}

// Validate checks the configuration and fills defaults. Errors name the setting at fault
// the way the flags spell it.
func (c *Config) Validate() error {
	if !c.ServerIP.Is4() {
		return errors.New("dhcp-server-ip: an IPv4 address is required")
	}
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
		return errors.New("dhcp-subnet: an IPv4 subnet is required")
	}
	c.Subnet = c.Subnet.Masked()
	if !c.Subnet.Contains(c.ServerIP) {
		return fmt.Errorf("dhcp-server-ip: %s is outside the subnet %s", c.ServerIP, c.Subnet)
	}
	if c.Mode != ModeProxy && !c.Begin.IsValid() && !c.End.IsValid() {
		return errors.New("dhcp-begin: a pool (dhcp-begin..dhcp-end) is required for full DHCP")
	}
	if c.Begin.IsValid() || c.End.IsValid() {
		if !c.Begin.Is4() {
			return errors.New("dhcp-begin: an IPv4 address is required")
		}
		if !c.End.Is4() {
			return errors.New("dhcp-end: an IPv4 address is required")
		}
		if !c.Subnet.Contains(c.Begin) {
			return fmt.Errorf("dhcp-begin: %s is outside the subnet %s", c.Begin, c.Subnet)
		}
		if !c.Subnet.Contains(c.End) {
			return fmt.Errorf("dhcp-end: %s is outside the subnet %s", c.End, c.Subnet)
		}
		if c.End.Less(c.Begin) {
			return fmt.Errorf("dhcp-end: %s is before dhcp-begin %s", c.End, c.Begin)
		}
		if c.Subnet.Bits() <= 30 {
			if c.Begin == c.Subnet.Addr() {
				return fmt.Errorf("dhcp-begin: %s is the subnet's network address", c.Begin)
			}
			if c.End == BroadcastOf(c.Subnet) {
				return fmt.Errorf("dhcp-end: %s is the subnet's broadcast address", c.End)
			}
		}
		if !c.ServerIP.Less(c.Begin) && !c.End.Less(c.ServerIP) {
			return fmt.Errorf("dhcp-server-ip: %s is inside the pool %s-%s", c.ServerIP, c.Begin, c.End)
		}
	}
	if c.Router.IsValid() && !c.Subnet.Contains(c.Router) {
		return fmt.Errorf("dhcp-router: %s is outside the subnet %s", c.Router, c.Subnet)
	}
	if c.Broadcast.IsValid() && !c.Subnet.Contains(c.Broadcast) {
		return fmt.Errorf("dhcp-broadcast: %s is outside the subnet %s", c.Broadcast, c.Subnet)
	}
	for _, d := range c.DNS {
		if !d.Is4() {
			return fmt.Errorf("dhcp-dns: %s is not an IPv4 address", d)
		}
	}
	if len(c.Domain) > 255 {
		return errors.New("dhcp-domain: longer than 255 bytes")
	}
	if c.LeaseTime < 0 || c.LeaseTime > 0xfffffffe*time.Second {
		return fmt.Errorf("dhcp-lease-time: %v is out of range", c.LeaseTime)
	}
	c.setDefaults()
	return nil
}

func (c *Config) setDefaults() {
	if c.Mode == 0 {
		c.Mode = ModeFull
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 5 * time.Second
	}
	if c.LeaseTime == 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.LeaseTime < 2*time.Second {
		c.LeaseTime = 2 * time.Second
	}
	if c.OfferHold == 0 {
		c.OfferHold = DefaultOfferHold
	}
	if c.DeclineQuarantine == 0 {
		c.DeclineQuarantine = DefaultDeclineQuarantine
	}
	if c.ConflictHold == 0 {
		c.ConflictHold = DefaultConflictHold
	}
	if c.ProbeWait == 0 {
		c.ProbeWait = DefaultProbeWait
	}
	if c.ProbeCache == 0 {
		c.ProbeCache = DefaultProbeCache
	}
	if c.WarnInterval == 0 {
		c.WarnInterval = DefaultWarnInterval
	}
	if c.RatePerMAC == 0 {
		c.RatePerMAC = DefaultRatePerMAC
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if !c.Broadcast.IsValid() {
		c.Broadcast = BroadcastOf(c.Subnet)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func a4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

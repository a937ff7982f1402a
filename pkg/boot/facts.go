package boot

import (
	"bytes"
	"net/netip"
	"strings"
)

// MsgKind is the DHCP message type of the request (the option 53 value).
type MsgKind uint8

// Message kinds the policy is asked about.
const (
	Discover MsgKind = 1
	Request  MsgKind = 3
	Inform   MsgKind = 8
)

// String returns the DHCP name of the message kind.
func (k MsgKind) String() string {
	switch k {
	case Discover:
		return "DISCOVER"
	case Request:
		return "REQUEST"
	case Inform:
		return "INFORM"
	}
	return "UNKNOWN"
}

// Mode is the DHCP mode the server runs in when it asks the policy.
type Mode uint8

// DHCP modes. Auto mode is resolved by the daemon to one of these before a request is
// answered.
const (
	// Full: the server hands out addresses and boot information.
	Full Mode = iota
	// Proxy: another server hands out addresses; we answer only PXE and HTTP clients with
	// boot information (port-67 proxy offers and the port-4011 service).
	Proxy
)

// String returns "full" or "proxy".
func (m Mode) String() string {
	if m == Proxy {
		return "proxy"
	}
	return "full"
}

// Server ports a request can arrive on.
const (
	PortDHCP uint16 = 67   // ordinary DHCP (and ProxyDHCP offers)
	PortPXE  uint16 = 4011 // PXE boot server / ProxyDHCP REQUEST service
)

// Facts is what the policy needs to know about one request. Slices may alias the
// caller's packet buffer: Decide does not keep them, except that Decision.Opt97 aliases
// Facts.Opt97.
type Facts struct {
	// Msg is the request's DHCP message type.
	Msg MsgKind
	// Mode is the mode the server is running in.
	Mode Mode
	// Port is the server port the request arrived on: PortDHCP or PortPXE (0 counts as 67).
	Port uint16
	// Arch is the option 93 list (client system architectures, IANA registry), in order.
	// Empty when the client sent none; the policy then reads "Arch:nnnnn" from the vendor
	// class, as EDK2 and iPXE put it there too.
	Arch []uint16
	// VendorClass is option 60, e.g. "PXEClient:Arch:00000:UNDI:002001".
	VendorClass string
	// UserClass is option 77 as sent: iPXE sends the plain string "iPXE"; RFC 3004
	// encoding (length-prefixed entries) is accepted too.
	UserClass []byte
	// Has175 says the request carried option 175 (iPXE's encapsulated options).
	Has175 bool
	// MAC is the client's Ethernet address (chaddr).
	MAC [6]byte
	// Opt97 is option 97 as sent (type byte 0 and a 16-byte UUID/GUID), nil when absent.
	Opt97 []byte
	// GIAddr is the relay agent address (zero or 0.0.0.0 when not relayed). The policy does
	// not depend on it; it is here for logs and future per-subnet rules.
	GIAddr netip.Addr
}

// IsIPXE reports whether the request comes from iPXE itself: user class "iPXE" (plain or
// RFC 3004 encoded) or option 175 present.
func (f *Facts) IsIPXE() bool {
	return f.Has175 || userClassHas(f.UserClass, "iPXE")
}

// userClassHas reports whether option 77 value v is the string want, either as the whole
// value (what iPXE sends) or as one entry of the RFC 3004 encoding (len, data)*.
func userClassHas(v []byte, want string) bool {
	if len(v) == 0 {
		return false
	}
	if len(v) == len(want) && strings.EqualFold(string(v), want) {
		return true
	}
	// Some clients NUL-terminate the plain string.
	if len(v) == len(want)+1 && v[len(want)] == 0 && strings.EqualFold(string(v[:len(want)]), want) {
		return true
	}
	for len(v) > 0 {
		n := int(v[0])
		if n == 0 || 1+n > len(v) {
			return false
		}
		if bytes.EqualFold(v[1:1+n], []byte(want)) {
			return true
		}
		v = v[1+n:]
	}
	return false
}

// ClientArch returns the client's architecture: the first option 93 entry, else the
// "Arch:nnnnn" field of the vendor class. ok is false when neither gives one.
func (f *Facts) ClientArch() (arch uint16, ok bool) {
	if len(f.Arch) > 0 {
		return f.Arch[0], true
	}
	return vendorClassArch(f.VendorClass)
}

// vendorClassArch parses the decimal field after "Arch:" in a PXE/HTTP vendor class.
func vendorClassArch(vc string) (uint16, bool) {
	i := strings.Index(vc, ":Arch:")
	if i < 0 {
		return 0, false
	}
	s := vc[i+len(":Arch:"):]
	n, digits := 0, 0
	for digits < len(s) && digits < 5 && s[digits] >= '0' && s[digits] <= '9' {
		n = n*10 + int(s[digits]-'0')
		digits++
	}
	if digits == 0 || n > 0xffff {
		return 0, false
	}
	return uint16(n), true
}

// vendorClassKind classifies option 60.
type vendorClassKind uint8

const (
	vcOther vendorClassKind = iota
	vcPXE                   // "PXEClient…"
	vcHTTP                  // "HTTPClient…"
	vcUBoot                 // "U-Boot…"
)

func classifyVendorClass(vc string) vendorClassKind {
	switch {
	case strings.HasPrefix(vc, "PXEClient"):
		return vcPXE
	case strings.HasPrefix(vc, "HTTPClient"):
		return vcHTTP
	case strings.HasPrefix(vc, "U-Boot"):
		return vcUBoot
	}
	return vcOther
}

package boot

import (
	"net/netip"
	"strings"
)

// Per-client directories of a boot server's tree: 01-<mac> (PXELINUX's name for a MAC,
// 01-52-54-00-12-34-56) and a client's dotted IPv4 address (10.70.0.23). They hold what
// differs for one machine — often a preseed or kickstart with secrets — so a file server
// serves one only to the client it names, over TFTP (pkg/bootfs) and HTTP (pkg/http) alike.

// IsClientDir reports whether name, one path element, has the shape of a per-client
// directory: 01-<mac> (hex in either case) or a dotted IPv4 address.
func IsClientDir(name string) bool {
	if len(name) == 20 && strings.HasPrefix(name, "01-") {
		_, ok := ParseMACDashed(name[3:])
		return ok
	}
	a, err := netip.ParseAddr(name)
	return err == nil && a.Is4()
}

// OwnsClientDir reports whether the per-client directory name belongs to the client at ip
// whose MAC is mac; hasMAC is false when the MAC is not known (then only the IP directory
// can be the client's own). A name that is not a client directory belongs to nobody.
func OwnsClientDir(name string, ip netip.Addr, mac [6]byte, hasMAC bool) bool {
	if ip.IsValid() && ip.Unmap().Is4() && name == ip.Unmap().String() {
		return true
	}
	if hasMAC && len(name) == 20 && strings.HasPrefix(name, "01-") {
		m, ok := ParseMACDashed(name[3:])
		return ok && m == mac
	}
	return false
}

// ParseMACDashed parses a MAC written as MACDashed does (hex pairs joined by dashes, either
// case).
func ParseMACDashed(s string) (mac [6]byte, ok bool) {
	if len(s) != 17 {
		return mac, false
	}
	for i := range 6 {
		if i > 0 && s[3*i-1] != '-' {
			return mac, false
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return mac, false
		}
		mac[i] = hi<<4 | lo
	}
	return mac, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

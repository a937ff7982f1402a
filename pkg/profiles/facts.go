package profiles

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Facts is what is known about a client when its menu is built.
type Facts struct {
	MAC      string     // any form net.ParseMAC accepts
	Arch     uint16     // DHCP option 93 architecture
	Platform string     // the firmware platform: "pcbios", "x86_64-efi", "arm64-efi", …
	Group    string     // the static-lease file entry's group, "" when none
	IP       netip.Addr // the client's address, when known
	Hostname string     // the static-lease hostname, when known
}

// NormalizeMAC returns mac as lower-case colon-separated hex, or "" when it is not a 6-byte
// MAC address.
func NormalizeMAC(mac string) string {
	hw, err := net.ParseMAC(strings.TrimSpace(mac))
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}

// safe keeps only characters that cannot break a kernel command line or a menu: letters,
// digits and ".:_-". Client-controlled facts pass through it before templating.
func safe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == ':', r == '_', r == '-':
			b.WriteRune(r)
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// expand replaces {mac}, {mac_dashed}, {ip}, {hostname}, {group}, {arch} and {platform} in
// tmpl with the client's sanitised facts; unknown placeholders stay as written.
func expand(tmpl string, f Facts) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	mac := NormalizeMAC(f.MAC)
	ip := ""
	if f.IP.IsValid() {
		ip = f.IP.String()
	}
	r := strings.NewReplacer(
		"{mac}", mac,
		"{mac_dashed}", strings.ReplaceAll(mac, ":", "-"),
		"{ip}", safe(ip),
		"{hostname}", safe(f.Hostname),
		"{group}", safe(f.Group),
		"{arch}", strconv.Itoa(int(f.Arch)),
		"{platform}", safe(f.Platform),
	)
	return r.Replace(tmpl)
}

package boot

import (
	"net/netip"
	"testing"
)

func TestClientDirs(t *testing.T) {
	mac := [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	ip := netip.MustParseAddr("10.70.0.23")
	for _, tc := range []struct {
		name          string
		isDir         bool
		owned, noMAC  bool // owned by (ip, mac); owned by ip alone
		otherIPMapped bool // owned by ::ffff:10.70.0.23
	}{
		{"01-52-54-00-12-34-56", true, true, false, false},
		{"01-52-54-00-12-34-56", true, true, false, false},
		{"01-52-54-00-12-34-57", true, false, false, false},
		{"01-52-54-00-12-34-5G", false, false, false, false},
		{"01-52:54:00:12:34:56", false, false, false, false},
		{"02-52-54-00-12-34-56", false, false, false, false},
		{"10.70.0.23", true, true, true, true},
		{"10.70.0.24", true, false, false, false},
		{"10.070.0.23", false, false, false, false},
		{"::1", false, false, false, false},
		{"boot.ipxe", false, false, false, false},
		{"", false, false, false, false},
	} {
		if got := IsClientDir(tc.name); got != tc.isDir {
			t.Errorf("IsClientDir(%q) = %v", tc.name, got)
		}
		if got := OwnsClientDir(tc.name, ip, mac, true); got != tc.owned {
			t.Errorf("OwnsClientDir(%q, with MAC) = %v", tc.name, got)
		}
		if got := OwnsClientDir(tc.name, ip, mac, false); got != tc.noMAC {
			t.Errorf("OwnsClientDir(%q, no MAC) = %v", tc.name, got)
		}
		if got := OwnsClientDir(tc.name, netip.MustParseAddr("::ffff:10.70.0.23"), [6]byte{}, false); got != tc.otherIPMapped {
			t.Errorf("OwnsClientDir(%q, mapped IP) = %v", tc.name, got)
		}
	}
	if !OwnsClientDir("01-52-54-00-12-34-56", ip, mac, true) || !OwnsClientDir("01-52-54-00-12-34-56", netip.Addr{}, mac, true) {
		t.Error("own MAC directory refused")
	}
	if m, ok := ParseMACDashed("DC-a6-32-01-36-C2"); !ok || MACDashed(m) != "dc-a6-32-01-36-c2" {
		t.Errorf("ParseMACDashed: %x %v", m, ok)
	}
}

package dhcpd

import (
	"net/netip"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// TestSecureBootPerMachine: the reservation's "secureboot" beats the profile hook, which
// beats --secure-boot; a Secure Boot machine's UEFI firmware gets shim, the others iPXE.
func TestSecureBootPerMachine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flag    bool
		resv    string // the binding's extra keys for 02:00:00:00:00:09
		profile func(mac [6]byte, group string, arch uint16, known bool) (bool, bool)
		want    string
	}{
		{"flag off, nothing set", false, ``, nil, "ipxe.efi"},
		{"flag on", true, ``, nil, "shimx64.efi"},
		{"reservation on", false, `,"secureboot":true`, nil, "shimx64.efi"},
		{"reservation off beats flag", true, `,"secureboot":false`, nil, "ipxe.efi"},
		{"profile by group", false, `,"group":"lab"`, func(_ [6]byte, g string, a uint16, known bool) (bool, bool) {
			return true, g == "lab" && a == 7 && known
		}, "shimx64.efi"},
		{"profile says nothing", true, `,"group":"x"`, func(_ [6]byte, g string, _ uint16, _ bool) (bool, bool) { return false, g == "lab" }, "shimx64.efi"},
		{"profile off beats flag", true, ``, func([6]byte, string, uint16, bool) (bool, bool) { return false, true }, "ipxe.efi"},
		{"reservation beats profile", false, `,"secureboot":true`, func([6]byte, string, uint16, bool) (bool, bool) { return false, true }, "shimx64.efi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Boot.SecureBoot = tc.flag
			cfg.SecureBootFor = tc.profile
			var err error
			cfg.Reservations, err = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"` + tc.resv + `}}}}`))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Subnet = netip.MustParsePrefix("10.40.0.0/16")
			s, _ := newTestServer(t, cfg)
			r, o := do(t, s, request(rawdhcp.Discover, mac(9), withPXE(7)), 67)
			if r != ReplyOffer || string(o.BootFileName()) != tc.want {
				t.Fatalf("reply %v, file %q, want %q", r, o.BootFileName(), tc.want)
			}
			// BIOS firmware of the same machine is never affected.
			if _, o := do(t, s, request(rawdhcp.Discover, mac(9), withPXE(0)), 67); string(o.BootFileName()) == "shimx64.efi" {
				t.Fatalf("BIOS got shim")
			}
		})
	}
}

func TestReservationSecureBootKeys(t *testing.T) {
	r, err := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50","secureboot":false,"group":"lab"},"02:00:00:00:00:0a":{"ipaddr":"10.40.0.51"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.Lookup(mac(9))
	if e.SecureBoot == nil || *e.SecureBoot || e.Group != "lab" {
		t.Fatalf("%+v", e)
	}
	if e, _ := r.Lookup(mac(10)); e.SecureBoot != nil {
		t.Fatalf("unset secureboot read as %v", *e.SecureBoot)
	}
	for _, bad := range []string{`"secureboot":"yes"`, `"group":"a\u0001b"`} {
		if _, err := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50",` + bad + `}}}}`)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

package dhcpd

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPrefixFromMask(t *testing.T) {
	for _, tc := range []struct {
		ip, mask, want string
		err            bool
	}{
		{"10.40.0.1", "255.255.255.0", "10.40.0.0/24", false},
		{"10.40.3.9", "255.255.252.0", "10.40.0.0/22", false},
		{"172.16.9.1", "255.240.0.0", "172.16.0.0/12", false},
		{"10.40.0.1", "255.255.255.252", "10.40.0.0/30", false},
		{"10.40.0.1", "255.0.255.0", "", true},
		{"10.40.0.1", "0.0.0.0", "0.0.0.0/0", false},
	} {
		p, err := PrefixFromMask(netip.MustParseAddr(tc.ip), netip.MustParseAddr(tc.mask))
		if (err != nil) != tc.err {
			t.Errorf("%s/%s: err %v", tc.ip, tc.mask, err)
			continue
		}
		if !tc.err && p.String() != tc.want {
			t.Errorf("%s/%s = %v, want %s", tc.ip, tc.mask, p, tc.want)
		}
		if !tc.err && MaskOf(p).String() != tc.mask {
			t.Errorf("MaskOf(%v) = %v, want %s", p, MaskOf(p), tc.mask)
		}
	}
	if b := BroadcastOf(netip.MustParsePrefix("10.40.0.0/22")); b.String() != "10.40.3.255" {
		t.Errorf("BroadcastOf /22 = %v", b)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"ok", func(*Config) {}, ""},
		{"/22 pool across octets", func(c *Config) {
			c.Subnet = netip.MustParsePrefix("10.40.0.0/22")
			c.Begin, c.End = a("10.40.1.250"), a("10.40.3.10")
		}, ""},
		{"/30", func(c *Config) {
			c.Subnet = netip.MustParsePrefix("10.40.0.0/30")
			c.Begin, c.End, c.Router = a("10.40.0.2"), a("10.40.0.2"), netip.Addr{}
		}, ""},
		{"begin outside", func(c *Config) { c.Begin = a("10.41.0.5") }, "dhcp-begin"},
		{"end outside", func(c *Config) { c.End = a("10.40.1.5") }, "dhcp-end"},
		{"end before begin", func(c *Config) { c.Begin, c.End = a("10.40.0.109"), a("10.40.0.100") }, "dhcp-end"},
		{"router outside", func(c *Config) { c.Router = a("192.168.1.1") }, "dhcp-router"},
		{"server in pool", func(c *Config) { c.ServerIP = a("10.40.0.105") }, "dhcp-server-ip"},
		{"server outside subnet", func(c *Config) { c.ServerIP = a("10.99.0.1") }, "dhcp-server-ip"},
		{"network address", func(c *Config) { c.Begin = a("10.40.0.0") }, "dhcp-begin"},
		{"broadcast address", func(c *Config) { c.End = a("10.40.0.255") }, "dhcp-end"},
		{"no pool in full mode", func(c *Config) { c.Begin, c.End = netip.Addr{}, netip.Addr{} }, "dhcp-begin"},
		{"no pool in proxy mode", func(c *Config) { c.Mode = ModeProxy; c.Begin, c.End = netip.Addr{}, netip.Addr{} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; want an error naming %s", tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), tc.want):
				t.Fatalf("error %q does not start with %q", err, tc.want)
			}
		})
	}
}

func TestReservationsPyPXEFormat(t *testing.T) {
	r, err := LoadReservations("testdata/pypxe-static.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	e, ok := r.Lookup([6]byte{0x5c, 0x9a, 0xd8, 0x5e, 0xf2, 0xe5})
	if !ok {
		t.Fatal("upper-case MAC key not found")
	}
	if e.IP.String() != "10.40.0.123" || e.Mask.String() != "255.255.255.0" || e.Router.String() != "10.40.0.1" ||
		len(e.DNS) != 2 || e.DNS[1].String() != "8.8.4.4" || e.ROM != "pxelinux.0" {
		t.Fatalf("parsed %+v", e)
	}
	if e, ok := r.Lookup(mac(10)); !ok || e.Hostname != "lab-a" {
		t.Fatalf("lower-case MAC key: %+v %v", e, ok)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"dhcp":{"binding":{"zz":{"ipaddr":"10.40.0.5"}}}}`, `"zz"`},
		{`{"dhcp":{"binding":{"02:00:00:00:00:01":{"ipaddr":"x"}}}}`, "ipaddr"},
		{`{"dhcp":{"binding":{"02:00:00:00:00:01":{}}}}`, "ipaddr is required"},
		{`{"dhcp":{"binding":{"02:00:00:00:00:01":{"ipaddr":"10.40.0.5"},"02:00:00:00:00:02":{"ipaddr":"10.40.0.5"}}}}`, "already reserved"},
		{`{"dhcp":{"binding":{"02:00:00:00:00:01":{"ipaddr":"10.40.0.5","subnet":"255.0.255.0"}}}}`, "not a netmask"},
		{`{"dhcp":`, "static-config"},
	} {
		if _, err := ParseReservations([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one mentioning %s", tc.doc, err, tc.want)
		}
	}
	// Empty or absent sections are an empty set, as in PyPXE.
	if r, err := ParseReservations([]byte(`{}`)); err != nil || r.Len() != 0 {
		t.Fatalf("{}: %v %d", err, r.Len())
	}
	// Checked against the subnet when installed.
	c := testConfig()
	c.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:01":{"ipaddr":"10.99.0.5"}}}}`))
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "outside the subnet") {
		t.Fatalf("reservation outside the subnet: %v", err)
	}
}

// A binding's "group" names the machine profiles' group; it is kept as written, and bounded.
func TestReservationGroup(t *testing.T) {
	r, err := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:07":{"ipaddr":"10.40.0.7","group":"rack-a"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Lookup([6]byte{2, 0, 0, 0, 0, 7}); !ok || e.Group != "rack-a" {
		t.Fatalf("group: %+v %v", e, ok)
	}
	long := `{"dhcp":{"binding":{"02:00:00:00:00:07":{"ipaddr":"10.40.0.7","group":"` + strings.Repeat("g", 65) + `"}}}}`
	if _, err := ParseReservations([]byte(long)); err == nil {
		t.Fatal("a 65-byte group was accepted")
	}
}

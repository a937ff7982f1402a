package httpd

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestPrivateFiles: per-client directories and hosts/ scripts are served only to the client
// they name, identified by its source address and the daemon's lease for it; ?mac= names a
// client only with TrustQueryMAC and only for a client the daemon does not know.
func TestPrivateFiles(t *testing.T) {
	const macA, macB = "52-54-00-50-00-0a", "52-54-00-50-00-0b"
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"boot.ipxe":                   "#!ipxe\necho generic\n",
		"01-" + macA + "/preseed.cfg": "A's secret\n",
		"01-" + macB + "/preseed.cfg": "B's secret\n",
		"127.0.0.1/ks.cfg":            "127.0.0.1's own\n",
		"127.0.0.2/ks.cfg":            "127.0.0.2's own\n",
		"10.50.0.9/ks.cfg":            "10.50.0.9's secret\n",
		"hosts/" + macA + ".ipxe":     "#!ipxe\necho host A {{.MACHyp}}\n",
		"hosts/" + macB + ".ipxe":     "#!ipxe\necho host B {{.MACHyp}}\n",
		"hosts/README":                "public\n",
	})
	// 127.0.0.1 holds a lease as A; 127.0.0.2 is unknown to the daemon.
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{
		netip.MustParseAddr("127.0.0.1"): {MAC: "52:54:00:50:00:0a"},
	}}
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	two := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	type req struct {
		from       *net.TCPAddr
		path, want string // want "" = 404
	}
	check := func(t *testing.T, addr string, cases []req) {
		t.Helper()
		for _, c := range cases {
			code, body := getBodyFrom(t, addr, c.path, c.from)
			if c.want == "" {
				if code != 404 {
					t.Errorf("%v %s: %d %q, want 404", c.from.IP, c.path, code, body)
				}
			} else if code != 200 || body != c.want {
				t.Errorf("%v %s: %d %q, want %q", c.from.IP, c.path, code, body, c.want)
			}
		}
	}
	t.Run("default", func(t *testing.T) {
		_, addr, _ := startServer(t, Config{Root: dir, Clients: clients, ListDirs: true})
		check(t, addr, []req{
			{one, "/01-" + macA + "/preseed.cfg", "A's secret\n"},
			{one, "/01-" + strings.ToUpper(macA) + "/preseed.cfg", ""}, // not on disk under that name
			{one, "/01-" + macB + "/preseed.cfg", ""},
			{one, "/01-" + macB + "/preseed.cfg?mac=" + macB, ""},
			{one, "/127.0.0.1/ks.cfg", "127.0.0.1's own\n"},
			{one, "/127.0.0.2/ks.cfg", ""},
			{one, "/10.50.0.9/ks.cfg", ""},
			{one, "/10.50.0.9/", ""},
			{one, "/hosts/" + macA + ".ipxe", "#!ipxe\necho host A 52-54-00-50-00-0a\n"},
			{one, "/hosts/" + macB + ".ipxe", ""},
			{one, "/hosts/README", "public\n"},
			{one, "/boot.ipxe", "#!ipxe\necho host A 52-54-00-50-00-0a\n"},
			{one, "/boot.ipxe?mac=" + macB, "#!ipxe\necho host A 52-54-00-50-00-0a\n"},
			// Unknown to the daemon: its IP directory only; ?mac= is a fact, not an identity.
			{two, "/127.0.0.2/ks.cfg", "127.0.0.2's own\n"},
			{two, "/01-" + macA + "/preseed.cfg", ""},
			{two, "/01-" + macA + "/preseed.cfg?mac=" + macA, ""},
			{two, "/hosts/" + macA + ".ipxe?mac=" + macA, ""},
			{two, "/boot.ipxe?mac=" + macA, "#!ipxe\necho generic\n"},
		})
		// A listing does not show other clients' files.
		code, body := getBodyFrom(t, addr, "/", one)
		if code != 200 || !strings.Contains(body, "01-"+macA) || strings.Contains(body, macB) ||
			strings.Contains(body, "10.50.0.9") || !strings.Contains(body, "127.0.0.1/") || strings.Contains(body, "127.0.0.2") {
			t.Errorf("listing of / for A: %d\n%s", code, body)
		}
		if _, body := getBodyFrom(t, addr, "/hosts/", one); strings.Contains(body, macB) || !strings.Contains(body, macA) {
			t.Errorf("listing of hosts/ for A:\n%s", body)
		}
	})
	t.Run("TrustQueryMAC", func(t *testing.T) {
		_, addr, _ := startServer(t, Config{Root: dir, Clients: clients, TrustQueryMAC: true})
		check(t, addr, []req{
			// The unknown client is who it says.
			{two, "/boot.ipxe?mac=" + macB, "#!ipxe\necho host B 52-54-00-50-00-0b\n"},
			{two, "/hosts/" + macB + ".ipxe?mac=" + macB, "#!ipxe\necho host B 52-54-00-50-00-0b\n"},
			{two, "/01-" + macB + "/preseed.cfg?mac=" + macB, "B's secret\n"},
			{two, "/01-" + macA + "/preseed.cfg?mac=" + macB, ""},
			{two, "/10.50.0.9/ks.cfg?mac=" + macB, ""},
			// A client with a lease stays its leased MAC.
			{one, "/boot.ipxe?mac=" + macB, "#!ipxe\necho host A 52-54-00-50-00-0a\n"},
			{one, "/01-" + macB + "/preseed.cfg?mac=" + macB, ""},
		})
	})
}

// getBodyFrom fetches path over a new connection from local and returns status and body.
func getBodyFrom(t *testing.T, addr, path string, local *net.TCPAddr) (int, string) {
	t.Helper()
	resp, body := rawRequestFrom(t, addr, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", local)
	return resp.StatusCode, string(body)
}

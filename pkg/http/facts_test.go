package httpd

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// TestScriptFactsSanitised: what a client put in DHCP (option 12 hostname, user class…) or
// in the query string reaches a script without spaces, newlines or iPXE syntax.
func TestScriptFactsSanitised(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"boot.ipxe": "#!ipxe\nset h {{.Hostname}}\nset p {{.Platform}}\nset b {{.BuildArch}}\nset u {{.UUID}}\nset k {{.Kind}}\nset a {{.ArchName}}\nset r {{.Reservation.note}}\n",
	})
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{
		netip.MustParseAddr("127.0.0.1"): {
			MAC: "52:54:00:50:00:01", Hostname: "node1\nshell\n#", Platform: "efi initrd=http://evil/x",
			UUID: "${net0/ip}", Kind: "ipxe script", ArchName: "x64\tuefi",
			Reservation: map[string]string{"note": "operator's own text"},
		},
		netip.MustParseAddr("127.0.0.2"): {Hostname: strings.Repeat("a", 300) + " b"},
	}}
	_, addr, _ := startServer(t, Config{Root: dir, Clients: clients})
	_, body := getBodyFrom(t, addr, "/boot.ipxe", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	want := "#!ipxe\nset h node1shell\nset p efiinitrdhttpevilx\nset b \nset u net0ip\nset k ipxescript\nset a x64uefi\nset r operator's own text\n"
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
	// A query fact fills only a gap, and only in token shape.
	_, body = getBodyFrom(t, addr, "/boot.ipxe?buildarch=x86_64%0Ashell&platform=efi", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if !strings.Contains(body, "set h "+strings.Repeat("a", 253)+"\n") || !strings.Contains(body, "set b \n") || !strings.Contains(body, "set p efi\n") {
		t.Errorf("long hostname / query facts:\n%s", body)
	}
}

// FuzzScriptFacts feeds arbitrary query strings and DHCP hostnames through the fact
// gathering: every fact a client controls comes out in script-safe shape.
func FuzzScriptFacts(f *testing.F) {
	for _, seed := range [][2]string{
		{"mac=52-54-00-12-34-56&platform=efi&buildarch=x86_64", "node1"},
		{"mac=${net0/mac}&platform=efi%0Ashell", "a b"},
		{"mac=52:54:00:12:34:56&mac=zz&buildarch=arm64;reboot", "x\nchain http://evil/"},
		{"%zz&&=&platform=" + strings.Repeat("p", 40), "\x00\xff"},
		{"mac=5254.0012.3456", ""},
	} {
		f.Add(seed[0], seed[1], false)
		f.Add(seed[0], seed[1], true)
	}
	s, err := New(Config{Root: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	safe := func(v string) bool {
		for i := 0; i < len(v); i++ {
			if !factByte(v[i]) {
				return false
			}
		}
		return true
	}
	f.Fuzz(func(t *testing.T, rawQuery, hostname string, known bool) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/boot.ipxe", RawQuery: rawQuery}, RemoteAddr: "127.0.0.1:4000"}
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey,
			&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		q := requester{ip: netip.MustParseAddr("127.0.0.1")}
		if known {
			q.known = true
			q.info = ClientInfo{Hostname: hostname, Platform: hostname, UUID: hostname}
		}
		d := s.scriptData(r, &q)
		for name, v := range map[string]string{"Hostname": d.Hostname, "Platform": d.Platform, "BuildArch": d.BuildArch,
			"UUID": d.UUID, "Kind": d.Kind, "ArchName": d.ArchName, "MACHyp": d.MACHyp, "MACHex": d.MACHex} {
			if !safe(v) {
				t.Fatalf("%s = %q from query %q, hostname %q", name, v, rawQuery, hostname)
			}
		}
		if d.MAC != "" {
			if hw, err := net.ParseMAC(d.MAC); err != nil || len(hw) != 6 || hw.String() != d.MAC {
				t.Fatalf("MAC = %q from query %q", d.MAC, rawQuery)
			}
		}
		if len(d.Hostname) > 253 || len(d.Platform) > 32 || len(d.BuildArch) > 32 {
			t.Fatalf("fact too long: %q %q %q", d.Hostname, d.Platform, d.BuildArch)
		}
		if d.IP != "127.0.0.1" || d.BaseURL != "http://127.0.0.1:8080" {
			t.Fatalf("server facts changed by the query: %q %q", d.IP, d.BaseURL)
		}
	})
}

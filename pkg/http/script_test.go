package httpd

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestScripts(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"boot.ipxe": "#!ipxe\n# {{.Hostname}} {{.MAC}} {{.IP}} {{.Platform}} {{.BuildArch}} {{.Arch}} rack={{.Reservation.rack}} none={{.Reservation.nope}}\n" +
			"chain {{.BaseURL}}/{{.BuildArch}}/kernel initrd=${mac:hexhyp}\n",
		"hosts/52-54-00-00-00-02.ipxe": "#!ipxe\necho override for {{.MACHyp}} on {{.Server}}:{{.Port}}\n",
		"menu.ipxe.tmpl":               "#!ipxe\nmenu {{.MACHex}}\n",
		"broken.ipxe":                  "#!ipxe\n{{.Nope}}\n",
		"unparsable.ipxe":              "#!ipxe\n{{if}}\n",
		"static.ipxe":                  "#!ipxe\necho ${net0/mac}\n",
	})
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{
		netip.MustParseAddr("127.0.0.1"): {
			MAC: "52:54:00:00:00:01", Arch: 7, ArchName: "x64-uefi", Platform: "efi", BuildArch: "x86_64",
			Hostname: "node1", Reservation: map[string]string{"rack": "r7"},
		},
	}}
	// TrustQueryMAC: the unknown client below picks its override by ?mac= (proxy mode's
	// opt-in; TestPrivateFiles covers the default).
	s, addr, logs := startServer(t, Config{Root: dir, Clients: clients, TrustQueryMAC: true})
	req := func(method, path string) (int, string, string) {
		resp, body := rawRequest(t, addr, method+" "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 304 && resp.Header.Get("Content-Length") == "" {
			t.Errorf("%s: no Content-Length", path)
		}
		return resp.StatusCode, string(body), resp.Header.Get("Content-Length")
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	code, body, _ := req("GET", "/boot.ipxe")
	want := "#!ipxe\n# node1 52:54:00:00:00:01 127.0.0.1 efi x86_64 7 rack=r7 none=\nchain http://127.0.0.1:" + port + "/x86_64/kernel initrd=${mac:hexhyp}\n"
	if code != 200 || body != want {
		t.Errorf("boot.ipxe: %d\n%s\nwant\n%s", code, body, want)
	}
	code, body, cl := req("HEAD", "/boot.ipxe")
	if code != 200 || cl != strconv.Itoa(len(want)) || body != "" {
		t.Errorf("HEAD boot.ipxe: %d length %s body %q, want length %d", code, cl, body, len(want))
	}

	// A client the daemon does not know: facts from the query string, validated; per-MAC
	// override picked by the MAC.
	delete(clients.byIP, netip.MustParseAddr("127.0.0.1"))
	code, body, _ = req("GET", "/boot.ipxe?mac=52-54-00-00-00-02&buildarch=arm64")
	if code != 200 || body != "#!ipxe\necho override for 52-54-00-00-00-02 on 127.0.0.1:"+port+"\n" {
		t.Errorf("override: %d %q", code, body)
	}
	code, body, _ = req("GET", "/boot.ipxe?mac=zz&buildarch=arm64;reboot&platform=efi")
	if code != 200 || !strings.Contains(body, "#   127.0.0.1 efi  0 rack= none=") {
		t.Errorf("bad query facts must be dropped: %d %q", code, body)
	}
	code, body, _ = req("GET", "/menu.ipxe?mac=52:54:00:00:00:03")
	if code != 200 || body != "#!ipxe\nmenu 525400000003\n" {
		t.Errorf("menu.ipxe from .tmpl: %d %q", code, body)
	}
	code, body, _ = req("GET", "/static.ipxe")
	if code != 200 || body != "#!ipxe\necho ${net0/mac}\n" {
		t.Errorf("static: %d %q", code, body)
	}
	for _, p := range []string{"/broken.ipxe", "/unparsable.ipxe"} {
		code, body, _ = req("GET", p)
		if code != 500 || strings.Contains(body, "#!ipxe") {
			t.Errorf("%s: %d %q, want a clean 500", p, code, body)
		}
	}
	code, _, _ = req("GET", "/missing.ipxe")
	if code != 404 {
		t.Errorf("missing script: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(logs.String(), "unparsable.ipxe") {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range []string{"template=broken.ipxe", "can't evaluate field Nope", "template=unparsable.ipxe"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	_ = s
}

func TestScriptServerIP(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"boot.ipxe": "{{.BaseURL}}"})
	_, addr, _ := startServer(t, Config{Root: dir, ServerIP: netip.MustParseAddr("10.50.0.1")})
	_, body := rawRequest(t, addr, "GET /boot.ipxe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	if string(body) != "http://10.50.0.1:"+port {
		t.Errorf("BaseURL %q", body)
	}
}

// {{.NBD.*}} names the NBD root at the address the client reached HTTP on, unless the NBD
// server has an address of its own; without an NBD server the facts are empty.
func TestScriptNBD(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"boot.ipxe": "nbdroot={{.NBD.root}} {{.NBD.url}} {{.NBD.export}}"})
	for _, c := range []struct {
		nbd  *NBDExport
		want string
	}{
		{nil, "nbdroot=  "},
		{&NBDExport{Port: 10809, Export: "root.img"}, "nbdroot=127.0.0.1:10809/root.img nbd://127.0.0.1:10809/root.img root.img"},
		{&NBDExport{Server: netip.MustParseAddr("10.50.0.9"), Port: 10810, Export: "r"}, "nbdroot=10.50.0.9:10810/r nbd://10.50.0.9:10810/r r"},
	} {
		_, addr, _ := startServer(t, Config{Root: dir, NBD: c.nbd})
		_, body := rawRequest(t, addr, "GET /boot.ipxe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if string(body) != c.want {
			t.Errorf("%+v: %q, want %q", c.nbd, body, c.want)
		}
	}
}

// TestScriptRefusals: a template that hits a work limit or uses a construct the evaluator
// refuses is a clean 500 with the reason in the log, never a partial script.
func TestScriptRefusals(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"loop.ipxe":   "#!ipxe\n{{range 1000000000}}echo {{$.MAC}}\n{{end}}",
		"define.ipxe": "#!ipxe\n{{define \"x\"}}y{{end}}{{template \"x\"}}\n",
		"html.ipxe":   "#!ipxe\necho {{html .MAC}}\n",
	})
	_, addr, logs := startServer(t, Config{Root: dir})
	for _, p := range []string{"/loop.ipxe", "/define.ipxe", "/html.ipxe"} {
		resp, body := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 500 || strings.Contains(string(body), "#!ipxe") {
			t.Errorf("%s: %d %q, want a clean 500", p, resp.StatusCode, body)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(logs.String(), "html.ipxe") {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range []string{"more than 100000 range iterations", `{{define \"x\"}} (or {{block}}): not supported`, "function html: not supported"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
}

// isToken replaced regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`) to keep regexp out of the
// binary; it must accept exactly what the expression did.
func TestIsTokenMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	cases := []string{
		"", "x", "efi", "pcbios", "arm64", "x86_64", "i386", "ipxe.efi", "a-b_c.d",
		strings.Repeat("a", 32), strings.Repeat("a", 33), "efi\n", "\nefi", "efi ", " efi",
		"ef/i", "é", "efi\x00", "\xff", "A:B", "a+b", "a~", "${platform}", "a\r",
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, string(rune(c)), "a"+string([]byte{byte(c)}))
	}
	for _, v := range cases {
		if got, want := isToken(v), re.MatchString(v); got != want {
			t.Errorf("isToken(%q) = %v, regexp says %v", v, got, want)
		}
	}
}

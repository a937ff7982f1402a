package httpd

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeMenus is a Menus the tests fill by hand.
type fakeMenus struct {
	mu    sync.Mutex
	next  map[string]string
	seen  []MenuClient
	token string
}

func (f *fakeMenus) DefaultScript(c MenuClient) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, c)
	return []byte("#!ipxe\necho generated for " + c.Info.MAC + " at " + c.BaseURL + "\n"), true
}
func (f *fakeMenus) GRUBConfig(c MenuClient) ([]byte, bool) {
	return []byte("# generated grub.cfg for " + c.Info.MAC + " chain " + c.Info.Chain + "\n"), true
}
func (f *fakeMenus) Images() any   { return []string{"a.iso"} }
func (f *fakeMenus) Profiles() any { return map[string]string{"default": "local"} }
func (f *fakeMenus) NextBoots() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}
func (f *fakeMenus) Token() string { return f.token }

func (f *fakeMenus) get(mac string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next[mac]
}
func (f *fakeMenus) SetNextBoot(mac, entry string) error {
	if entry != "" && entry != "a.iso" {
		return fmt.Errorf("%w: unknown entry %q", ErrBadRequest, entry)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next[mac] = entry
	return nil
}

// TestDefaultScript: boot.ipxe falls back to the generated menu only when neither the file
// nor the client's hosts/<mac>.ipxe exists.
func TestDefaultScript(t *testing.T) {
	dir := t.TempDir()
	fc := &fakeClients{byIP: map[netip.Addr]ClientInfo{netip.MustParseAddr("127.0.0.1"): {MAC: "52:54:00:00:00:01"}}}
	m := &fakeMenus{next: map[string]string{}}
	_, addr, _ := startServer(t, Config{Root: dir, Status: true, Clients: fc, Menus: m})
	get := func() string {
		resp, body := rawRequest(t, addr, "GET /boot.ipxe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("boot.ipxe: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	if b := get(); !strings.Contains(b, "generated for 52:54:00:00:00:01 at http://127.0.0.1:") {
		t.Errorf("no generated menu: %q", b)
	}
	writeTree(t, dir, map[string]string{"hosts/52-54-00-00-00-01.ipxe": "#!ipxe\necho host\n"})
	if b := get(); !strings.Contains(b, "echo host") {
		t.Errorf("hosts/<mac>.ipxe did not win: %q", b)
	}
	writeTree(t, dir, map[string]string{"boot.ipxe": "#!ipxe\necho file\n", "hosts/52-54-00-00-00-01.ipxe": ""})
	if err := removeFile(dir, "hosts/52-54-00-00-00-01.ipxe"); err != nil {
		t.Fatal(err)
	}
	if b := get(); !strings.Contains(b, "echo file") {
		t.Errorf("boot.ipxe did not win: %q", b)
	}
	resp, _ := rawRequest(t, addr, "GET /other.ipxe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 404 {
		t.Errorf("other.ipxe: %d, want 404 (only boot.ipxe falls back)", resp.StatusCode)
	}
}

// TestGRUBConfig: grub/grub.cfg (and grub.cfg) come from Menus.GRUBConfig unless the netboot
// directory has the file; other files under grub/ are the directory's.
func TestGRUBConfig(t *testing.T) {
	dir := t.TempDir()
	fc := &fakeClients{byIP: map[netip.Addr]ClientInfo{netip.MustParseAddr("127.0.0.1"): {MAC: "52:54:00:00:00:01", Chain: "shim"}}}
	_, addr, _ := startServer(t, Config{Root: dir, Status: true, Clients: fc, Menus: &fakeMenus{}})
	get := func(p string) (int, string) {
		resp, body := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return resp.StatusCode, string(body)
	}
	for _, p := range []string{"/grub/grub.cfg", "//grub/grub.cfg", "/grub.cfg"} {
		if st, b := get(p); st != 200 || b != "# generated grub.cfg for 52:54:00:00:00:01 chain shim\n" {
			t.Errorf("%s: %d %q, want the generated grub.cfg", p, st, b)
		}
	}
	if st, _ := get("/grub/x86_64-efi/command.lst"); st != 404 {
		t.Errorf("grub/x86_64-efi/command.lst: %d, want 404 (not generated)", st)
	}
	writeTree(t, dir, map[string]string{"grub/grub.cfg": "set timeout=1\n"})
	if st, b := get("/grub/grub.cfg"); st != 200 || b != "set timeout=1\n" {
		t.Errorf("grub/grub.cfg in the netboot directory did not win: %d %q", st, b)
	}
}

// TestNextBootAPI: the write needs the token, a same-origin request, POST and a known
// entry; reads answer JSON.
func TestNextBootAPI(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	m := &fakeMenus{next: map[string]string{}, token: tok}
	_, addr, logs := startServer(t, Config{Root: t.TempDir(), Status: true, Menus: m})
	body := `{"mac":"52:54:00:00:00:01","entry":"a.iso"}`
	post := func(hdr, b string) int {
		req := "POST /api/nextboot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + hdr +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(b)) + b
		resp, _ := rawRequest(t, addr, req)
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, hdr, body string
		want            int
	}{
		{"no token", "", body, 401},
		{"wrong token", "Authorization: Bearer " + strings.Repeat("0", 64) + "\r\n", body, 401},
		{"empty bearer", "Authorization: Bearer \r\n", body, 401},
		{"cross-site fetch", "Authorization: Bearer " + tok + "\r\nSec-Fetch-Site: cross-site\r\n", body, 403},
		{"foreign origin", "Authorization: Bearer " + tok + "\r\nOrigin: http://evil.example\r\n", body, 403},
		{"unknown entry", "Authorization: Bearer " + tok + "\r\n", `{"mac":"52:54:00:00:00:01","entry":"nope"}`, 400},
		{"unknown key", "Authorization: Bearer " + tok + "\r\n", `{"mac":"x","entry":"a.iso","x":1}`, 400},
		{"too big", "Authorization: Bearer " + tok + "\r\n", strings.Repeat(" ", 5000) + body, 400},
		{"same origin", "Authorization: Bearer " + tok + "\r\nOrigin: http://127.0.0.1\r\nSec-Fetch-Site: same-origin\r\n", body, 200},
	} {
		if got := post(tc.hdr, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
		if n := m.get("52:54:00:00:00:01"); tc.want != 200 && n != "" {
			t.Fatalf("%s changed the table: %q", tc.name, n)
		}
	}
	if n := m.get("52:54:00:00:00:01"); n != "a.iso" {
		t.Errorf("next boot %q", n)
	}
	resp, b := rawRequest(t, addr, "GET /api/nextboot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"52:54:00:00:00:01":"a.iso"`) {
		t.Errorf("GET /api/nextboot: %d %s", resp.StatusCode, b)
	}
	resp, _ = rawRequest(t, addr, "PUT /api/nextboot HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 405 {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
	resp, _ = rawRequest(t, addr, "POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
	if resp.StatusCode != 405 {
		t.Errorf("POST /api/images: %d", resp.StatusCode)
	}
	resp, _ = rawRequest(t, addr, "GET /api/images HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 421 {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}
	_, page := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	for _, want := range []string{`id="menu-section"`, `"/api/nextboot"`, "Authorization", "sessionStorage"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if !strings.Contains(logs.String(), "without the token") || !strings.Contains(logs.String(), "cross-origin") {
		t.Error("refusals not logged")
	}
}

func removeFile(dir, name string) error {
	return os.Remove(filepath.Join(dir, filepath.FromSlash(name)))
}

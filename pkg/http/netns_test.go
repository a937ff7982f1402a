//go:build linux

package httpd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestCurlInNamespace checks the file server with a real client: curl in one namespace,
// the server's listener opened inside another (NS.Do), over a veth pair.
func TestCurlInNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	lab := netlab.New(t)
	netlab.RequireCommands(t, "curl")
	srv, cli := lab.Namespace("hsrv"), lab.Namespace("hcli")
	lab.Veth(srv, "eth0", "10.50.0.1/24", cli, "eth0", "10.50.0.2/24")

	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "SECRET"})
	dir := t.TempDir()
	data := strings.Repeat("abcdefghij", 20000) // 200000 bytes
	writeTree(t, dir, map[string]string{
		"data.bin":  data,
		"boot.ipxe": "#!ipxe\necho {{.MAC}} {{.Hostname}} {{.IP}}\nchain {{.BaseURL}}/{{.Platform}}/menu.ipxe\n",
		"link-out":  "->" + outside,
		"sub/x":     "x",
	})
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	_ = os.Chtimes(filepath.Join(dir, "data.bin"), mtime, mtime)
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{
		netip.MustParseAddr("10.50.0.2"): {MAC: "52:54:00:50:00:02", Hostname: "curlbox", Platform: "efi"},
	}}

	var ln net.Listener
	if err := srv.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "10.50.0.1:80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Root: dir, Clients: clients, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln)

	curl := func(args ...string) string {
		t.Helper()
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		out, err := cli.Run(rctx, append([]string{"curl", "-sS", "--max-time", "10"}, args...)...)
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	const base = "http://10.50.0.1"
	w := "%{http_code} %{size_download}"

	if got := curl("-o", "/dev/null", "-w", w, base+"/data.bin"); got != "200 200000" {
		t.Errorf("GET: %q", got)
	}
	head := curl("-I", base+"/data.bin")
	if !strings.Contains(head, "Content-Length: 200000") || !strings.Contains(head, "Accept-Ranges: bytes") {
		t.Errorf("HEAD:\n%s", head)
	}
	etag := ""
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Etag: "); ok {
			etag = v
		}
	}
	if got := curl("-r", "10-19", "-w", " "+w, base+"/data.bin"); got != "abcdefghij 206 10" {
		t.Errorf("range: %q", got)
	}
	if got := curl("-r", "-4", "-w", " "+w, base+"/data.bin"); got != "ghij 206 4" {
		t.Errorf("suffix range: %q", got)
	}
	if got := curl("-o", "/dev/null", "-r", "300000-", "-w", w, base+"/data.bin"); !strings.HasPrefix(got, "416 ") {
		t.Errorf("unsatisfiable range: %q", got)
	}
	if got := curl("-o", "/dev/null", "-H", "If-None-Match: "+etag, "-w", w, base+"/data.bin"); got != "304 0" {
		t.Errorf("If-None-Match %s: %q", etag, got)
	}
	if got := curl("-o", "/dev/null", "-z", mtime.Format(http1123), "-w", w, base+"/data.bin"); got != "304 0" {
		t.Errorf("If-Modified-Since: %q", got)
	}
	if got := curl("-o", "/dev/null", "-r", "0-0", "-H", `If-Range: "stale"`, "-w", w, base+"/data.bin"); got != "200 200000" {
		t.Errorf("If-Range stale: %q", got)
	}
	notFound := curl("-D", "-", "-o", "/dev/null", base+"/nope")
	if !strings.HasPrefix(notFound, "HTTP/1.1 404") || !strings.Contains(notFound, "Content-Length: ") {
		t.Errorf("404 without Content-Length:\n%s", notFound)
	}
	if got := curl(base + "/boot.ipxe"); got != "#!ipxe\necho 52:54:00:50:00:02 curlbox 10.50.0.2\nchain http://10.50.0.1/efi/menu.ipxe\n" {
		t.Errorf("boot.ipxe:\n%s", got)
	}
	for _, p := range []string{
		"/../" + filepath.Base(outside) + "/secret",
		"/%2e%2e/" + filepath.Base(outside) + "/secret",
		"/sub/%2E%2E%2F%2E%2E%2F" + filepath.Base(outside) + "%2Fsecret",
		"/sub%5c..%5c..%5c" + filepath.Base(outside) + "%5csecret",
		"/sub/x%00.txt",
		"/link-out/secret",
	} {
		got := curl("--path-as-is", "-w", "\n%{http_code}", base+p)
		code := got[strings.LastIndexByte(got, '\n')+1:]
		if strings.Contains(got, "SECRET") || (code != "400" && code != "403") {
			t.Errorf("%s: %q", p, got)
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

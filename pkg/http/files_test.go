package httpd

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	content := strings.Repeat("0123456789", 100) // 1000 bytes
	writeTree(t, dir, map[string]string{
		"data.bin":             content,
		"grub/grub.cfg":        "set timeout=1\n",
		"www/index.html":       "<p>hi</p>",
		"empty/":               "",
		"net_install/boot.img": "PIIMG",
	})
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "data.bin"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	_, addr, _ := startServer(t, Config{Root: dir})
	base := "http://" + addr

	get := func(method, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	full, _ := get("GET", "/data.bin", nil)
	etag := full.Header.Get("Etag")
	if etag == "" || full.Header.Get("Last-Modified") != mtime.Format(http.TimeFormat) {
		t.Fatalf("validators: etag %q last-modified %q", etag, full.Header.Get("Last-Modified"))
	}

	tests := []struct {
		name, method, path string
		hdr                map[string]string
		code               int
		body               string // checked when not empty
		wantHdr            map[string]string
	}{
		{"get", "GET", "/data.bin", nil, 200, content, map[string]string{"Content-Length": "1000", "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}},
		{"head", "HEAD", "/data.bin", nil, 200, "", map[string]string{"Content-Length": "1000"}},
		{"range", "GET", "/data.bin", map[string]string{"Range": "bytes=10-19"}, 206, "0123456789", map[string]string{"Content-Range": "bytes 10-19/1000", "Content-Length": "10"}},
		{"suffix range", "GET", "/data.bin", map[string]string{"Range": "bytes=-5"}, 206, "56789", map[string]string{"Content-Range": "bytes 995-999/1000", "Content-Length": "5"}},
		{"open range", "GET", "/data.bin", map[string]string{"Range": "bytes=998-"}, 206, "89", map[string]string{"Content-Range": "bytes 998-999/1000", "Content-Length": "2"}},
		{"range past end", "GET", "/data.bin", map[string]string{"Range": "bytes=1000-"}, 416, "", map[string]string{"Content-Range": "bytes */1000"}},
		{"head range", "HEAD", "/data.bin", map[string]string{"Range": "bytes=0-99"}, 206, "", map[string]string{"Content-Length": "100"}},
		{"if-none-match", "GET", "/data.bin", map[string]string{"If-None-Match": etag}, 304, "", map[string]string{"Etag": etag}},
		{"if-none-match other", "GET", "/data.bin", map[string]string{"If-None-Match": `"nope"`}, 200, content, nil},
		{"if-modified-since", "GET", "/data.bin", map[string]string{"If-Modified-Since": mtime.Format(http.TimeFormat)}, 304, "", nil},
		{"if-modified-since older", "GET", "/data.bin", map[string]string{"If-Modified-Since": mtime.Add(-time.Hour).Format(http.TimeFormat)}, 200, content, nil},
		{"if-match fails", "GET", "/data.bin", map[string]string{"If-Match": `"nope"`}, 412, "", nil},
		{"if-range match", "GET", "/data.bin", map[string]string{"Range": "bytes=0-3", "If-Range": etag}, 206, "0123", nil},
		{"if-range stale", "GET", "/data.bin", map[string]string{"Range": "bytes=0-3", "If-Range": `"old"`}, 200, content, nil},
		{"text type", "GET", "/grub/grub.cfg", nil, 200, "set timeout=1\n", map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": "14"}},
		{"missing", "GET", "/nope.efi", nil, 404, "", map[string]string{"Content-Length": strconv.Itoa(len("404 Not Found\n"))}},
		{"missing head", "HEAD", "/nope.efi", nil, 404, "", map[string]string{"Content-Length": strconv.Itoa(len("404 Not Found\n"))}},
		{"missing under file", "GET", "/data.bin/x", nil, 404, "", nil},
		{"post", "POST", "/data.bin", nil, 405, "", map[string]string{"Allow": "GET, HEAD"}},
		{"dir no listing", "GET", "/empty/", nil, 404, "", nil},
		{"dir redirect", "GET", "/www", nil, 301, "", map[string]string{"Location": "/www/"}},
		{"dir index", "GET", "/www/", nil, 200, "<p>hi</p>", map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{"root no dashboard", "GET", "/", nil, 404, "", nil},
		{"pi boot.img", "GET", "/net_install/boot.img", nil, 200, "PIIMG", nil},
		{"double slash", "GET", "//grub//grub.cfg", nil, 200, "set timeout=1\n", nil},
		// Status routes off (--http-status=false): these are plain (missing) files.
		{"no status api", "GET", "/api/status", nil, 404, "", nil},
		{"no metrics", "GET", "/metrics", nil, 404, "", nil},
		{"no events", "GET", "/api/events", nil, 404, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.method, tc.path, tc.hdr)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.code, body)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.method == "HEAD" && body != "" {
				t.Errorf("HEAD returned a body")
			}
			for k, v := range tc.wantHdr {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			// Every response that may carry a body says how long it is (GRUB waits ~33 s
			// on an error page without Content-Length).
			if resp.StatusCode != 304 && resp.Header.Get("Content-Length") == "" {
				t.Errorf("no Content-Length on %d", resp.StatusCode)
			}
		})
	}
}

func TestDirListing(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"pxelinux.cfg/default": "x", "a<b>.txt": "y"})
	_, addr, _ := startServer(t, Config{Root: dir, ListDirs: true})
	resp, body := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `href="pxelinux.cfg/"`) || !strings.Contains(string(body), "a&lt;b&gt;.txt") {
		t.Fatalf("listing %d:\n%s", resp.StatusCode, body)
	}
}

func TestTraversalRefused(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret": "SECRET"})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"sub/ok.txt":  "fine",
		"link-dir":    "->" + outside,
		"link-file":   "->" + filepath.Join(outside, "secret"),
		"link-rel":    "->../" + filepath.Base(outside) + "/secret",
		"link-inside": "->sub/ok.txt",
	})
	_, addr, logs := startServer(t, Config{Root: dir, ListDirs: true})
	tests := []struct {
		path string
		code int
	}{
		{"/../" + filepath.Base(outside) + "/secret", 400},
		{"/%2e%2e/" + filepath.Base(outside) + "/secret", 400},
		{"/%2E%2E%2F" + filepath.Base(outside) + "%2Fsecret", 400},
		{"/sub/..%2f..%2f" + filepath.Base(outside) + "%2fsecret", 400},
		{"/sub/%2e%2e/ok.txt", 400},
		{"/..%5c" + filepath.Base(outside) + "%5csecret", 400},
		{`/sub\..\..\secret`, 400},
		{"/sub/ok.txt%00.png", 400},
		{"/sub/ok.txt%0a", 400},
		{"/link-dir/secret", 403},
		{"/link-file", 403},
		{"/link-rel", 403},
		{"/link-dir/", 403},
	}
	for _, tc := range tests {
		resp, body := rawRequest(t, addr, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tc.path))
		if resp.StatusCode != tc.code || strings.Contains(string(body), "SECRET") {
			t.Errorf("%s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.code)
		}
		if resp.Header.Get("Content-Length") == "" {
			t.Errorf("%s: no Content-Length", tc.path)
		}
	}
	// A raw NUL in the request line never reaches the handler; net/http refuses it.
	resp, _ := rawRequest(t, addr, "GET /sub/ok.txt\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("raw NUL: %d", resp.StatusCode)
	}
	// A symlink that stays inside the root is an ordinary file.
	resp, body := rawRequest(t, addr, "GET /link-inside HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "fine" {
		t.Errorf("in-root symlink: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("refusals not logged:\n%s", logs.String())
	}
}

func TestAccessLog(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "hello"})
	_, addr, logs := startServer(t, Config{Root: dir})
	rawRequest(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	rawRequest(t, addr, "GET /b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && strings.Count(logs.String(), "msg=http ") < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	l := logs.String()
	for _, want := range []string{"method=GET path=/a.txt status=200 bytes=5", "path=/b.txt status=404", "client=127.0.0.1:", "duration="} {
		if !strings.Contains(l, want) {
			t.Errorf("access log lacks %q:\n%s", want, l)
		}
	}
}

func TestPiDirOutsideRoot(t *testing.T) {
	pi := t.TempDir()
	writeTree(t, pi, map[string]string{"boot.img": "IMG", "boot.sig": "SIG"})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"rpi/boot.img": "shadowed"})
	_, addr, _ := startServer(t, Config{Root: dir, PiPath: "/rpi/", PiDir: pi})
	for p, want := range map[string]string{"/rpi/boot.img": "IMG", "/rpi/boot.sig": "SIG"} {
		resp, body := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	resp, _ := rawRequest(t, addr, "GET /rpi/../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("escape from the Pi dir: %d", resp.StatusCode)
	}
	if _, err := New(Config{Root: dir, PiPath: "../x"}); err == nil {
		t.Error("PiPath with .. accepted")
	}
}

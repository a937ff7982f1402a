package httpd

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// TestMounts: a mounted handler is served under its prefix with the files' access log,
// method and path checks and transfer events; a panic in it is logged at error level.
func TestMounts(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"images/x.txt": "from Root\n", "a.txt": "A"})
	big := bytes.Repeat([]byte("i"), 256<<10)
	var calls atomic.Int32
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(64)
	defer cancel()
	_, addr, logs := startServer(t, Config{Root: dir, Events: bus, Mounts: []Mount{
		{Prefix: "/images/", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			switch r.URL.Path {
			case "/images/debian/vmlinuz":
				http.ServeContent(w, r, "vmlinuz", time.Time{}, bytes.NewReader(big))
			case "/images/boom":
				panic("mount handler bug")
			default:
				http.NotFound(w, r)
			}
		})},
	}})
	get := func(method, p string) (int, string) {
		resp, body := rawRequest(t, addr, method+" "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return resp.StatusCode, string(body)
	}
	if code, body := get("GET", "/images/debian/vmlinuz"); code != 200 || len(body) != len(big) {
		t.Errorf("mounted file: %d, %d bytes", code, len(body))
	}
	if code, _ := get("GET", "/images/x.txt"); code != 404 {
		t.Errorf("the mount owns its prefix, Root's images/ is hidden: %d", code)
	}
	if code, body := get("GET", "/a.txt"); code != 200 || body != "A" {
		t.Errorf("files beside the mount: %d %q", code, body)
	}
	before := calls.Load()
	if code, _ := get("POST", "/images/debian/vmlinuz"); code != 405 {
		t.Errorf("POST: %d", code)
	}
	if code, _ := get("GET", "/images/../a.txt"); code != 400 {
		t.Errorf("dot-dot: %d", code)
	}
	if calls.Load() != before {
		t.Error("refused requests reached the handler")
	}
	// The panic: net/http drops the connection; the server logs it at error level.
	c, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/images/boom")
	if err == nil {
		c.Body.Close()
		t.Error("a panicking handler produced a response")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !(strings.Contains(logs.String(), "level=ERROR") &&
		strings.Contains(logs.String(), "path=/images/debian/vmlinuz status=200")) {
		time.Sleep(10 * time.Millisecond)
	}
	l := logs.String()
	if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "mount handler bug") {
		t.Errorf("panic not logged at error level:\n%s", l)
	}
	if !strings.Contains(l, "path=/images/boom status=500") {
		t.Errorf("panic not in the access log as a 500:\n%s", l)
	}
	if !strings.Contains(l, "path=/images/debian/vmlinuz status=200 bytes=262144") {
		t.Errorf("mounted download not in the access log:\n%s", l)
	}
	// The large mounted body was a transfer like a file.
	var kinds []events.Kind
	timeout := time.After(5 * time.Second)
	for len(kinds) < 2 {
		select {
		case e := <-ch:
			if e.Proto == "http" && e.File == "images/debian/vmlinuz" {
				kinds = append(kinds, e.Kind)
			}
		case <-timeout:
			t.Fatalf("transfer events for the mount: %v", kinds)
		}
	}
	if kinds[0] != events.TransferStarted {
		t.Errorf("events %v", kinds)
	}

	for _, bad := range []Mount{{Prefix: "images/", Handler: http.NotFoundHandler()}, {Prefix: "/images", Handler: http.NotFoundHandler()},
		{Prefix: "/", Handler: http.NotFoundHandler()}, {Prefix: "/a/../b/", Handler: http.NotFoundHandler()},
		{Prefix: "/api/x/", Handler: http.NotFoundHandler()}, {Prefix: "/images/"}} {
		if _, err := New(Config{Root: dir, Mounts: []Mount{bad}}); err == nil {
			t.Errorf("mount %+v accepted", bad)
		}
	}
}

package httpd

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// A file body of corkMin or more goes out between one cork and one uncork (so the tail is
// pushed at once, not after the kernel's 200 ms cork limit), over a keep-alive connection
// and for a range; a small body and HEAD are never corked; every body arrives whole.
func TestCorkAroundFileBodies(t *testing.T) {
	var mu sync.Mutex
	var seen []bool
	corkHook = func(on bool) {
		mu.Lock()
		seen = append(seen, on)
		mu.Unlock()
	}
	t.Cleanup(func() { corkHook = nil })
	take := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}

	dir := t.TempDir()
	big := make([]byte, 3<<20+123)
	rand.Read(big)
	small := big[:corkMin-1]
	for name, b := range map[string][]byte{"big.bin": big, "small.bin": small} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, addr, _ := startServer(t, Config{Root: dir})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)

	for _, c := range []struct {
		name, method, rng string
		want              []byte
		corks             []bool
	}{
		{"big", "GET", "", big, []bool{true, false}},
		{"big again on the same connection", "GET", "", big, []bool{true, false}},
		{"big range", "GET", "bytes=100-2000000", big[100:2000001], []bool{true, false}},
		{"small range of big", "GET", "bytes=0-999", big[:1000], nil},
		{"small", "GET", "", small, nil},
		{"big HEAD", "HEAD", "", nil, nil},
	} {
		name := "/big.bin"
		if c.name == "small" {
			name = "/small.bin"
		}
		req, _ := http.NewRequest(c.method, "http://"+addr+name, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, c.want) {
			t.Errorf("%s: %d bytes (err %v), want %d", c.name, len(body), err, len(c.want))
		}
		if got := take(); !slices.Equal(got, c.corks) {
			t.Errorf("%s: cork calls %v, want %v", c.name, got, c.corks)
		}
	}
}

package images

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

func randBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

type served struct {
	srv     *httptest.Server
	dir     string
	squash  []byte
	kernel  []byte
	frag    []byte
	fetched []string
}

// newServed builds a catalogue with an xorriso ISO, a synthetic ISO with a fragmented file,
// a kernel directory and a script, and serves it on a real loopback TCP listener (so the
// sendfile path runs).
func newServed(t *testing.T) *served {
	s := &served{dir: t.TempDir(), squash: randBytes(3<<20+5, 1), kernel: fakeBzImage(), frag: randBytes(9000, 2)}
	buildISO(t, s.dir, "debian-live.iso", isoSpec{vol: "d-live 12 amd64", bios: true, files: map[string][]byte{
		"live/vmlinuz-6.1": s.kernel, "live/initrd.img-6.1": []byte("initrd"), "live/filesystem.squashfs": s.squash,
	}})
	synth := isotest.Synth("FRAG", []isotest.File{{Path: "frag.bin", Data: s.frag, ExtentMax: 4096, Gap: 1}}, &isotest.Boot{BIOS: true})
	os.WriteFile(filepath.Join(s.dir, "frag.iso"), synth, 0o644)
	os.MkdirAll(filepath.Join(s.dir, "netboot", "amd64"), 0o755)
	os.WriteFile(filepath.Join(s.dir, "netboot", "amd64", "linux"), s.kernel, 0o644)
	os.WriteFile(filepath.Join(s.dir, "netboot", "amd64", "initrd.gz"), []byte("gz"), 0o644)
	os.WriteFile(filepath.Join(s.dir, "rescue.ipxe"), []byte("#!ipxe\nshell\n"), 0o644)
	os.WriteFile(filepath.Join(s.dir, "secret"), []byte("not an entry"), 0o600)
	c := NewCatalog(s.dir, nil)
	if err := c.Rescan(); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Catalog: c, OnFetch: func(mac, entry string) { s.fetched = append(s.fetched, mac+" "+entry) }}
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *served) get(t *testing.T, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandlerISOContents(t *testing.T) {
	s := newServed(t)
	resp, body := s.get(t, "GET", "/images/debian-live.iso/live/filesystem.squashfs")
	if resp.StatusCode != 200 || !bytes.Equal(body, s.squash) {
		t.Fatalf("GET: %d, %d bytes (want %d), equal=%v", resp.StatusCode, len(body), len(s.squash), bytes.Equal(body, s.squash))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers %v", resp.Header)
	}
	// Ranges at the start, the middle and the end; one past the end is refused.
	n := len(s.squash)
	for _, rg := range [][2]int{{0, 0}, {1000, 2_000_000}, {n - 10, n - 1}} {
		resp, body := s.get(t, "GET", "/images/debian-live.iso/live/filesystem.squashfs", "Range", fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]))
		if resp.StatusCode != 206 || !bytes.Equal(body, s.squash[rg[0]:rg[1]+1]) {
			t.Errorf("range %v: %d, %d bytes", rg, resp.StatusCode, len(body))
		}
	}
	if resp, _ := s.get(t, "GET", "/images/debian-live.iso/live/filesystem.squashfs", "Range", fmt.Sprintf("bytes=%d-", n)); resp.StatusCode != 416 {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	// Conditional requests.
	if resp, _ := s.get(t, "GET", "/images/debian-live.iso/live/filesystem.squashfs", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := s.get(t, "GET", "/images/debian-live.iso/live/filesystem.squashfs", "If-Modified-Since", lm); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	resp, body = s.get(t, "HEAD", "/images/debian-live.iso/LIVE/VMLINUZ-6.1")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(s.kernel)) {
		t.Errorf("HEAD (case-insensitive path): %d len=%d", resp.StatusCode, resp.ContentLength)
	}
	// A fragmented multi-extent file goes through the ReaderAt path.
	resp, body = s.get(t, "GET", "/images/frag.iso/frag.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, s.frag) {
		t.Errorf("fragmented file: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = s.get(t, "GET", "/images/frag.iso/frag.bin", "Range", "bytes=4090-4100")
	if resp.StatusCode != 206 || !bytes.Equal(body, s.frag[4090:4101]) {
		t.Errorf("fragmented range: %d %q", resp.StatusCode, body)
	}
}

func TestHandlerEntriesAndRefusals(t *testing.T) {
	s := newServed(t)
	iso, _ := os.ReadFile(filepath.Join(s.dir, "debian-live.iso"))
	cases := []struct {
		method, path string
		status       int
		body         []byte
	}{
		{"GET", "/images/debian-live.iso", 200, iso},
		{"GET", "/images/netboot/amd64/linux", 200, s.kernel},
		{"GET", "/images/rescue.ipxe", 200, []byte("#!ipxe\nshell\n")},
		{"GET", "/images/debian-live.iso/live/nope", 404, nil},
		{"GET", "/images/debian-live.iso/live", 404, nil}, // a directory
		{"GET", "/images/netboot/../secret", 404, nil},
		{"GET", "/images/secret", 404, nil}, // not a catalogue entry (unknown type)
		{"GET", "/images/netboot", 404, nil},
		{"GET", "/images/", 404, nil},
		{"GET", "/images/nope.iso/x", 404, nil},
		{"POST", "/images/rescue.ipxe", 405, nil},
	}
	for _, tc := range cases {
		resp, body := s.get(t, tc.method, tc.path)
		if resp.StatusCode != tc.status || (tc.body != nil && !bytes.Equal(body, tc.body)) {
			t.Errorf("%s %s: %d (%d bytes), want %d", tc.method, tc.path, resp.StatusCode, len(body), tc.status)
		}
	}
	// A raw request with ".." (clients may send it unnormalised).
	req, _ := http.NewRequest("GET", s.srv.URL+"/images/netboot/amd64/linux", nil)
	req.URL.Path = "/images/netboot/amd64/../../secret"
	req.URL.RawPath = ""
	rec := httptest.NewRecorder()
	s.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("unnormalised ..: %d", rec.Code)
	}
	// The boot-once marker is reported, only for a file that exists.
	s.get(t, "GET", "/images/netboot/amd64/nope?once=52:54:00:00:00:01")
	s.get(t, "GET", "/images/netboot/amd64/linux?once=52:54:00:00:00:01")
	if strings.Join(s.fetched, ";") != "52:54:00:00:00:01 netboot" {
		t.Errorf("OnFetch calls %q", s.fetched)
	}
}

// TestSectionFileBounds: the sendfile-capable reader never yields bytes outside its section,
// whichever way it is copied.
func TestSectionFileBounds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := randBytes(10000, 3)
	os.WriteFile(p, data, 0o644)
	f, _ := os.Open(p)
	defer f.Close()
	s, err := newSectionFile(f, 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, s); err != nil || n != 5000 || !bytes.Equal(buf.Bytes(), data[1000:6000]) {
		t.Fatalf("io.Copy: %d %v", n, err)
	}
	if pos, _ := s.Seek(-10, io.SeekEnd); pos != 4990 {
		t.Errorf("SeekEnd: %d", pos)
	}
	rest, _ := io.ReadAll(s)
	if !bytes.Equal(rest, data[5990:6000]) {
		t.Errorf("tail %d bytes", len(rest))
	}
	if _, err := s.Seek(-1, io.SeekStart); err == nil {
		t.Error("negative seek accepted")
	}
	// Over a real TCP connection (sendfile) through WriteTo.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(p)
		defer f.Close()
		s, _ := newSectionFile(f, 1234, 4321)
		w.Header().Set("Content-Length", "4321")
		io.Copy(w, s)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data[1234:1234+4321]) {
		t.Errorf("over TCP: %d bytes, equal=%v", len(got), bytes.Equal(got, data[1234:1234+4321]))
	}
}

func TestTFTPSource(t *testing.T) {
	s := newServed(t)
	c := NewCatalog(s.dir, nil)
	c.Rescan()
	inner := tftp.FileSourceFunc(func(req *tftp.Request) (tftp.File, error) {
		return nil, &fs.PathError{Op: "open", Path: req.Path, Err: fs.ErrNotExist}
	})
	src := &TFTPSource{Catalog: c, Inner: inner, Generate: func(req *tftp.Request) ([]byte, bool) {
		return []byte("generated " + req.Path), req.Path == "pxelinux.cfg/default"
	}}
	read := func(p string) ([]byte, error) {
		f, err := src.Open(&tftp.Request{Path: p})
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b := make([]byte, f.Size())
		_, err = f.ReadAt(b, 0)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return b, err
	}
	for p, want := range map[string][]byte{
		"images/debian-live.iso/live/filesystem.squashfs": s.squash,
		"images/frag.iso/frag.bin":                        s.frag,
		"images/netboot/amd64/linux":                      s.kernel,
		"pxelinux.cfg/default":                            []byte("generated pxelinux.cfg/default"),
	} {
		got, err := read(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, %d bytes", p, err, len(got))
		}
	}
	for _, p := range []string{"images/nope/x", "images/netboot/../secret", "images/secret", "other"} {
		if _, err := read(p); err == nil {
			t.Errorf("%s: opened", p)
		}
	}
	if _, err := read("images/debian-live.iso/live/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file inside the ISO: %v", err)
	}
}

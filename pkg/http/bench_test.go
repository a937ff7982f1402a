package httpd

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Request cost over loopback with a keep-alive client: a small file (served from the page
// cache, below the sendfile-worthy sizes PXE cares about) and a rendered script. Run with
// `go test -run '^$' -bench . -benchmem ./pkg/http`.
func benchGet(b *testing.B, cfg Config, path string, size int) {
	cfg.Logger = slog.New(slog.DiscardHandler)
	_, addr, _ := startServer(b, cfg)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	url := "http://" + addr + path
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || int(n) != size {
			b.Fatalf("%d, %d bytes", resp.StatusCode, n)
		}
	}
}

func BenchmarkSmallFile(b *testing.B) {
	dir := b.TempDir()
	writeTree(b, dir, map[string]string{"pxelinux.cfg/default": strings.Repeat("x", 2000)})
	benchGet(b, Config{Root: dir}, "/pxelinux.cfg/default", 2000)
}

func BenchmarkScript(b *testing.B) {
	dir := b.TempDir()
	tmpl := "#!ipxe\nkernel {{.BaseURL}}/{{.BuildArch}}/vmlinuz mac={{.MAC}} host={{.Hostname}}\ninitrd {{.BaseURL}}/initrd\nboot\n"
	writeTree(b, dir, map[string]string{"boot.ipxe": tmpl})
	clients := &fakeClients{byIP: map[netip.Addr]ClientInfo{
		netip.MustParseAddr("127.0.0.1"): {MAC: "52:54:00:00:00:01", BuildArch: "x86_64", Hostname: "n1"},
	}}
	_, addr, _ := startServer(b, Config{Root: dir, Clients: clients, Logger: slog.New(slog.DiscardHandler)})
	resp, err := http.Get("http://" + addr + "/boot.ipxe")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	benchGet(b, Config{Root: dir, Clients: clients}, "/boot.ipxe", len(body))
}

// A download above ProgressMin with the event bus on: the transfer path (sendfile in
// pace-sized pieces, progress events, the send-queue probe where there is one). pkg/http
// allocates nothing per write or per piece; net's sendfile path allocates per call, so
// allocs/op fall as pieces grow with a fast client's pace.
func BenchmarkLargeFile(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(strconv.Itoa(size>>20)+"MiB", func(b *testing.B) {
			dir := b.TempDir()
			writeTree(b, dir, map[string]string{"vmlinuz": strings.Repeat("x", size)})
			bus := events.NewBus()
			ch, cancel := bus.Subscribe(64)
			defer cancel()
			go func() {
				for range ch {
				}
			}()
			benchGet(b, Config{Root: dir, Events: bus}, "/vmlinuz", size)
		})
	}
}

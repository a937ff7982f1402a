package nbd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// startServer runs a Server for cfg on loopback and returns its address and an idempotent
// stop that ends Serve (which must return nil) and closes the Server.
func startServer(t *testing.T, cfg Config) (string, func()) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// tool runs a real client and returns its combined output, failing the test on error.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// qemuIO runs qemu-io commands on uri; pattern mismatches fail the test.
func qemuIO(t *testing.T, uri string, cmds ...string) string {
	t.Helper()
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out := tool(t, "qemu-io", append(args, uri)...)
	if strings.Contains(out, "Pattern verification failed") || strings.Contains(out, "failed:") {
		t.Fatalf("qemu-io %q on %s:\n%s", cmds, uri, out)
	}
	return out
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// libnbd's nbdinfo and nbdcopy against a read-only export.
func TestRealClientsLibnbd(t *testing.T) {
	netlab.RequireCommands(t, "nbdinfo", "nbdcopy")
	img, _ := testImage(t, 24<<20+512)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "other.img"), make([]byte, 1<<20), 0o644)
	addr, _ := startServer(t, Config{Default: img, ExportsDir: dir})

	list := tool(t, "nbdinfo", "--list", "nbd://"+addr)
	if !strings.Contains(list, `export="disk.img"`) || !strings.Contains(list, `export="other.img"`) {
		t.Errorf("nbdinfo --list:\n%s", list)
	}
	var info struct {
		Protocol   string `json:"protocol"`
		Structured bool   `json:"structured"`
		Exports    []struct {
			Name      string `json:"export-name"`
			Size      int64  `json:"export-size"`
			ReadOnly  bool   `json:"is_read_only"`
			MultiConn bool   `json:"can_multi_conn"`
			Flush     bool   `json:"can_flush"`
			BlockMin  int64  `json:"block_size_minimum"`
			BlockPref int64  `json:"block_size_preferred"`
			BlockMax  int64  `json:"block_size_maximum"`
		} `json:"exports"`
	}
	out := tool(t, "nbdinfo", "--json", "nbd://"+addr+"/disk.img")
	if err := json.Unmarshal([]byte(out), &info); err != nil || len(info.Exports) != 1 {
		t.Fatalf("nbdinfo --json: %v\n%s", err, out)
	}
	e := info.Exports[0]
	if info.Protocol != "newstyle-fixed" || e.Size != 24<<20+512 || !e.ReadOnly || !e.MultiConn || !e.Flush ||
		e.BlockMin != 1 || e.BlockPref != 4096 || e.BlockMax != 32<<20 {
		t.Errorf("nbdinfo --json: %+v %+v", info, e)
	}

	copyTo := filepath.Join(t.TempDir(), "copy.img")
	tool(t, "nbdcopy", "nbd://"+addr+"/", copyTo)
	if fileSum(t, copyTo) != fileSum(t, img) {
		t.Error("nbdcopy of the default export: sha256 differs from the image")
	}
}

// qemu-io and qemu-img over nbd:// in copy-on-write mode, with clients told apart by MAC.
func TestRealClientsQemuCow(t *testing.T) {
	netlab.RequireCommands(t, "qemu-io", "qemu-img")
	img, _ := testImage(t, 16<<20)
	baseSum := fileSum(t, img)
	var mac atomic.Value
	cfg := Config{Default: img, Write: true, Cow: true, OverlayDir: t.TempDir(),
		ClientKey: func(netip.Addr) (string, bool) { return mac.Load().(string), true }}
	addr, stop := startServer(t, cfg)
	uri := func(a string) string { return "nbd://" + a + "/disk.img" }

	mac.Store("52:54:00:12:34:01")
	qemuIO(t, uri(addr), "write -P 0xab 4097 10000", "write -P 0xcd 1M 64k", "write -z 2M 1M", "write -P 0xef 16773120 4096", "flush")
	check := []string{"read -P 0xab 4097 10000", "read -P 0xcd 1M 64k", "read -P 0 2M 1M", "read -P 0xef 16773120 4096"}
	qemuIO(t, uri(addr), check...) // reconnect: the client's writes are there

	mac.Store("52:54:00:12:34:02")
	if out := tool(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", uri(addr), img); !strings.Contains(out, "identical") {
		t.Errorf("second client does not see the pristine image: %s", out)
	}
	if fileSum(t, img) != baseSum {
		t.Error("the base image changed")
	}

	// A new Server on the same overlay directory: the first client's writes survive.
	stop()
	addr, _ = startServer(t, cfg)
	mac.Store("52:54:00:12:34:01")
	qemuIO(t, uri(addr), check...)
	if fileSum(t, img) != baseSum {
		t.Error("the base image changed")
	}
	if _, err := os.Stat(filepath.Join(cfg.OverlayDir, "disk.img", "52-54-00-12-34-01", "bitmap")); err != nil {
		t.Errorf("overlay not keyed by MAC: %v", err)
	}
}

// Write-through mode: qemu-io writes reach the image; a second writer is refused clearly.
func TestRealClientsQemuWriteThrough(t *testing.T) {
	netlab.RequireCommands(t, "qemu-io")
	img, _ := testImage(t, 4<<20)
	addr, _ := startServer(t, Config{Default: img, Write: true})
	qemuIO(t, "nbd://"+addr+"/", "write -P 0x5a 8192 4096", "flush")
	b, _ := os.ReadFile(img)
	if !bytes.Equal(b[8192:12288], bytes.Repeat([]byte{0x5a}, 4096)) {
		t.Error("write did not reach the image")
	}
	// qemu-io's writer slot is released when the server has read its DISC, a moment after
	// qemu-io exits; until then a new writer is refused as the second one (bounded wait).
	var holder *rawClient
	for deadline := time.Now().Add(5 * time.Second); holder == nil; {
		rc := dialRaw(t, addr)
		switch typ := rc.goExport(""); {
		case typ == RepAck:
			holder = rc
		case typ == RepErrPolicy && time.Now().Before(deadline):
			rc.c.Close()
			time.Sleep(20 * time.Millisecond)
		default:
			t.Fatalf("GO after the first writer left: reply %#x", typ)
		}
	}
	out, err := exec.Command("qemu-io", "-f", "raw", "-c", "read 0 512", "nbd://"+addr+"/").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "one writer") {
		t.Errorf("second writer not refused clearly: %v\n%s", err, out)
	}
	holder.send(Request{Type: CmdDisc}, nil)
}

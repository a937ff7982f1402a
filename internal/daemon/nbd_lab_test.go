package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// --nbd serves the image beside TFTP: libnbd's nbdinfo, from another namespace, sees the
// default export with its size, and a copy-on-write client writes without touching the image.
func TestNBDService(t *testing.T) {
	netlab.RequireCommands(t, "nbdinfo", "qemu-io")
	lb := newLab(t, "10.60.21.1/24", "10.60.21.2/24")
	dir, _ := netbootDir(t, "f.bin", 16)
	img := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	p := lb.srv.Start(binary(t), "-a", dir, "--nbd", img, "--nbd-write", "--state-dir", t.TempDir())
	waitFor(t, p, "msg=serving")
	if !strings.Contains(p.Output(), "NBD listening") {
		t.Fatalf("no NBD service:\n%s", p.Output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := lb.cli.Run(ctx, "nbdinfo", "--json", "nbd://10.60.21.1/")
	if err != nil {
		t.Fatalf("nbdinfo: %v\n%s\n%s", err, out, p.Output())
	}
	var info struct {
		Exports []struct {
			Size int64 `json:"export-size"`
		} `json:"exports"`
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info.Exports) != 1 || info.Exports[0].Size != 4<<20 {
		t.Fatalf("nbdinfo --json: %v %+v\n%s", err, info, out)
	}
	if out, err := lb.cli.Run(ctx, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 64k", "nbd://10.60.21.1:10809/"); err != nil {
		t.Fatalf("qemu-io write: %v\n%s\n%s", err, out, p.Output())
	}
	if out, err := lb.cli.Run(ctx, "qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 64k", "nbd://10.60.21.1:10809/"); err != nil || !strings.Contains(string(out), "read 65536/65536") {
		t.Fatalf("qemu-io read back (same client, new connection): %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b[:64<<10] {
		if c != 0 {
			t.Fatal("the image was written: copy-on-write is the default with --nbd-write")
		}
	}
	stopOK(t, p)
}

// --nbd-copy-to-ram with an image larger than the memory there is: exit status 2, said why.
func TestNBDCopyToRAMTooBig(t *testing.T) {
	bin := binary(t)
	img := filepath.Join(t.TempDir(), "huge.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 42); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := netlabCmd(ctx, bin, "-a", t.TempDir(), "--tftp-port", "16969", "--nbd", img, "--nbd-copy-to-ram", "--nbd-port", "16970").CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), "does not fit") {
		t.Fatalf("want exit 2 naming the memory, got %v:\n%s", err, out)
	}
}

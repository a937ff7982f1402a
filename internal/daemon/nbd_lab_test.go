package daemon_test

import (
	"context"
	be "encoding/binary"
	"encoding/json"
	"io"
	"net"
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
	netlab.RequireCommands(t, "nbdinfo", "qemu-io", "curl")
	lb := newLab(t, "10.60.21.1/24", "10.60.21.2/24")
	dir, _ := netbootDir(t, "f.bin", 16)
	img := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	p := lb.srv.Start(binary(t), "-a", dir, "--nbd", img, "--nbd-write", "--state-dir", t.TempDir(), "--http", "--http-port", "8080")
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

	// An attached client is on /api/status and /metrics.
	var nc net.Conn
	if err := lb.cli.Do(func() (err error) {
		nc, err = net.DialTimeout("tcp4", "10.60.21.1:10809", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nbdAttach(t, nc)
	st := getURL(t, lb.cli, "http://10.60.21.1:8080/api/status")
	var status struct {
		NBD []struct {
			Export string `json:"export"`
			Remote string `json:"remote"`
		} `json:"nbd"`
	}
	if err := json.Unmarshal([]byte(st), &status); err != nil || len(status.NBD) != 1 || !strings.HasPrefix(status.NBD[0].Remote, "10.60.21.2:") {
		t.Fatalf("/api/status nbd: %v %+v\n%s", err, status, st)
	}
	if m := getURL(t, lb.cli, "http://10.60.21.1:8080/metrics"); !strings.Contains(m, `pxe_edge_nbd_clients{export="root.img"} 1`) && !strings.Contains(m, `pxe_edge_nbd_clients{export=""} 1`) {
		t.Errorf("/metrics lacks the attached NBD client:\n%s", m)
	}
	stopOK(t, p)
}

// nbdAttach does a fixed-newstyle handshake for the default export (NBD_OPT_GO) on c and
// leaves the connection in transmission.
func nbdAttach(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	greet := make([]byte, 18)
	if _, err := io.ReadFull(c, greet); err != nil || string(greet[:8]) != "NBDMAGIC" {
		t.Fatalf("NBD greeting %q: %v", greet, err)
	}
	const ihaveopt = 0x49484156454F5054
	msg := be.BigEndian.AppendUint32(nil, 1|2) // FIXED_NEWSTYLE | NO_ZEROES
	msg = be.BigEndian.AppendUint64(msg, ihaveopt)
	msg = be.BigEndian.AppendUint32(msg, 7) // NBD_OPT_GO
	msg = be.BigEndian.AppendUint32(msg, 6) // name length (4) + info count (2)
	msg = be.BigEndian.AppendUint32(msg, 0) // the default export ""
	msg = be.BigEndian.AppendUint16(msg, 0)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 16; i++ {
		hdr := make([]byte, 20)
		if _, err := io.ReadFull(c, hdr); err != nil {
			t.Fatalf("NBD option reply: %v", err)
		}
		typ, n := be.BigEndian.Uint32(hdr[12:]), be.BigEndian.Uint32(hdr[16:])
		if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
			t.Fatal(err)
		}
		switch {
		case typ == 1: // NBD_REP_ACK: transmission begins
			_ = c.SetDeadline(time.Time{})
			return
		case typ&(1<<31) != 0:
			t.Fatalf("NBD_OPT_GO refused: reply type %#x", typ)
		}
	}
	t.Fatal("no NBD_REP_ACK")
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

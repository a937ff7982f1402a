package tftp

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "capture testdata/golden/rrq-*.bin again from the real clients (needs root)")

// goldenRequests are the first RRQ each real client sends, captured from the wire by
// TestCaptureGoldenRequests -update, and what negotiation must make of them.
var goldenRequests = []struct {
	name string
	argv []string // client command, server at srvIP
	file string
	oack string // with Limits{BlockSizeMax: 1468, WindowSizeMax: 64, WindowBytesMax: 64 KiB, FileSize: 1000}
	blk  int
	win  int
}{
	{"tftp-hpa", []string{"tftp", "-m", "binary", srvIP, "-c", "get", "pxelinux.0", "/dev/null"}, "pxelinux.0", "", 512, 1},
	{"atftp-window", []string{"atftp", "--get", "-r", "boot/bootx64.efi", "-l", "/dev/null", "--option", "blksize 1468", "--option", "windowsize 4", "--option", "tsize 0", srvIP},
		"boot/bootx64.efi", "tsize=1000 blksize=1468 windowsize=4", 1468, 4},
	{"curl", []string{"curl", "-sS", "--max-time", "2", "--tftp-blksize", "1432", "-o", "/dev/null", "tftp://" + srvIP + "/undionly.kpxe"},
		"undionly.kpxe", "tsize=1000 blksize=1432 timeout=1", 1432, 1},
	{"busybox", []string{"busybox", "tftp", "-g", "-r", "u-boot.scr", "-l", "/dev/null", "-b", "1468", srvIP}, "u-boot.scr", "blksize=1468 tsize=1000", 1468, 1},
}

// TestCaptureGoldenRequests records each client's RRQ into testdata/golden. It only runs
// with -update; TestGoldenRequests checks the files on every run.
func TestCaptureGoldenRequests(t *testing.T) {
	if !*update {
		t.Skip("run with -update to capture again")
	}
	b := newLab(t)
	for _, g := range goldenRequests {
		var pkt []byte
		err := b.srv.Do(func() error {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srvIP), Port: 69})
			if err != nil {
				return err
			}
			defer c.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, _ = b.cli.Run(ctx, g.argv...) // nobody answers; the client gives up
			}()
			buf := make([]byte, 2048)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := c.ReadFromUDPAddrPort(buf)
			<-done
			if err != nil {
				return err
			}
			pkt = append([]byte(nil), buf[:n]...)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		p := filepath.Join("testdata", "golden", "rrq-"+g.name+".bin")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, pkt, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %q", g.name, pkt)
	}
}

func TestGoldenRequests(t *testing.T) {
	lim := Limits{BlockSizeMax: 1468, WindowSizeMax: 64, WindowBytesMax: 64 << 10, FileSize: 1000}
	for _, g := range goldenRequests {
		t.Run(g.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "golden", "rrq-"+g.name+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Op != OpRRQ || r.Filename != g.file || r.Mode != "octet" {
				t.Fatalf("got %+v", r)
			}
			n := Negotiate(r.Options, lim)
			if n.String() != g.oack || n.BlockSize != g.blk || n.WindowSize != g.win {
				t.Fatalf("OACK %q blk %d win %d; want %q %d %d", n.String(), n.BlockSize, n.WindowSize, g.oack, g.blk, g.win)
			}
		})
	}
}

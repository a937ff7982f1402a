package bootfs

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// TestRealClients serves a tree through pkg/tftp + bootfs on 127.0.0.1 and fetches with
// real TFTP clients (tftp-hpa, busybox): the 127.0.0.1/ client directory wins over the root,
// a Pi serial prefix falls back to the root, another client's directory is not served.
func TestRealClients(t *testing.T) {
	netlab.RequireCommands(t, "tftp", "busybox")
	dir := tree(t, map[string]string{
		"boot.ipxe":            "root script\n",
		"start4.elf":           "root start4\n",
		"127.0.0.1/boot.ipxe":  "loopback's own script\n",
		"3c8da5af/config.txt":  "pi config\n",
		"10.70.0.23/boot.ipxe": "someone else's\n",
	})
	inner, err := tftp.NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	src, err := New(inner, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)
	srv := &tftp.Server{Source: src, Timeout: 500 * time.Millisecond, Retries: 3, IdleTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	}()

	clients := map[string]func(remote, local string) *exec.Cmd{
		"tftp-hpa": func(remote, local string) *exec.Cmd {
			return exec.Command("tftp", "-m", "binary", "127.0.0.1", port, "-c", "get", remote, local)
		},
		"busybox": func(remote, local string) *exec.Cmd {
			return exec.Command("busybox", "tftp", "-g", "-r", remote, "-l", local, "127.0.0.1:"+port)
		},
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				remote, want string
			}{
				{"boot.ipxe", "loopback's own script\n"},
				{"/start4.elf", "root start4\n"},
				{"3c8da5af/start4.elf", "root start4\n"},
				{"3c8da5af/config.txt", "pi config\n"},
				{"10.70.0.23/boot.ipxe", ""},
				{"deadbeef/start4.elf", ""},
			} {
				local := filepath.Join(t.TempDir(), "out")
				ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
				cmd := mk(tc.remote, local)
				out, err := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...).CombinedOutput()
				stop()
				got, rerr := os.ReadFile(local)
				if tc.want == "" {
					// tftp-hpa exits 0 on a server error but prints it; busybox exits 1.
					if rerr == nil && len(got) > 0 {
						t.Errorf("%s: got %q, want not found (%s)", tc.remote, got, out)
					}
					continue
				}
				if err != nil || rerr != nil || string(got) != tc.want {
					t.Errorf("%s: %q, %v %v (%s); want %q", tc.remote, got, err, rerr, out, tc.want)
				}
			}
		})
	}
}

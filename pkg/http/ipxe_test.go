//go:build linux

package httpd

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestIPXEFetchesRenderedScripts boots QEMU's own network ROM (iPXE, see the field guide
// §10) with user-mode networking: QEMU's internal DHCP hands it an http:// boot file pointing
// at pkg/http on the host's loopback (10.0.2.2 inside QEMU). No DHCP server runs anywhere
// real. iPXE must fetch boot.ipxe, execute what the template rendered (a chain whose URL came
// from {{.BaseURL}} and carries iPXE's own ${mac:hexhyp}/${platform}/${buildarch}), fetch
// the per-MAC override under hosts/, and follow the URL that override rendered.
func TestIPXEFetchesRenderedScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("qemu test")
	}
	netlab.RequireCommands(t, "qemu-system-x86_64")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"boot.ipxe": "#!ipxe\necho pxe-edge rendered for {{.IP}}\nchain {{.BaseURL}}/boot.ipxe?mac=${mac:hexhyp}&platform=${platform}&buildarch=${buildarch}&step=2\n",
		// The per-MAC override wins for boot.ipxe once the MAC is known (from the query).
		"hosts/52-54-00-50-05-01.ipxe":      "#!ipxe\necho override {{.MACHyp}} {{.Platform}} {{.BuildArch}}\nchain {{.BaseURL}}/done-{{.MACHex}}-{{.Platform}}-{{.BuildArch}}.txt\n",
		"done-525400500501-pcbios-i386.txt": "#!ipxe\nshell\n",
	})
	logs := &logBuffer{}
	_, addr, _ := startServer(t, Config{Root: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-display", "none",
		"-serial", "null", "-monitor", "none", "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile=http://10.0.2.2:"+port+"/boot.ipxe",
		"-device", "e1000,netdev=n0,mac=52:54:00:50:05:01")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}()
	// The ROM build has no poweroff command, so QEMU keeps running: wait for the last
	// request instead, bounded.
	final := "path=/done-525400500501-pcbios-i386.txt status=200"
wait:
	for !strings.Contains(logs.String(), final) {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			t.Fatalf("qemu exited early: %v\n%s\nserver log:\n%s", err, out.String(), logs.String())
		case <-ctx.Done():
			break wait
		case <-time.After(200 * time.Millisecond):
		}
	}
	l := logs.String()
	for _, want := range []string{
		"path=/boot.ipxe status=200",
		"path=/done-525400500501-pcbios-i386.txt status=200",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("server log lacks %q:\n%s", want, l)
		}
	}
	if n := strings.Count(l, "path=/boot.ipxe status=200"); n != 2 {
		t.Errorf("boot.ipxe fetched %d times, want 2 (plain, then with iPXE's facts):\n%s", n, l)
	}
}

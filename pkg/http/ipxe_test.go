//go:build linux

package httpd

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestIPXEFetchesRenderedScripts boots QEMU's own network ROM (iPXE, see the field guide
// §10) with user-mode networking: QEMU's internal DHCP hands it an http:// boot file pointing
// at pkg/http on the namespace's loopback (10.0.2.2 inside QEMU). No DHCP server runs anywhere
// real. iPXE must fetch boot.ipxe, execute what the template rendered (a chain whose URL came
// from {{.BaseURL}} and carries iPXE's own ${mac:hexhyp}/${platform}/${buildarch}), fetch
// the per-MAC override under hosts/, and follow the URL that override rendered.
func TestIPXEFetchesRenderedScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("qemu test")
	}
	netlab.RequireCommands(t, "qemu-system-x86_64")
	netlab.RequireFiles(t, "/usr/lib/ipxe/qemu/pxe-e1000.rom")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"boot.ipxe": "#!ipxe\necho pxe-edge rendered for {{.IP}}\nchain {{.BaseURL}}/boot.ipxe?mac=${mac:hexhyp}&platform=${platform}&buildarch=${buildarch}&step=2\n",
		// The per-MAC override wins for boot.ipxe once the MAC is known (from the trusted query).
		"hosts/52-54-00-50-05-01.ipxe":      "#!ipxe\necho override {{.MACHyp}} {{.Platform}} {{.BuildArch}}\nchain {{.BaseURL}}/done-{{.MACHex}}-{{.Platform}}-{{.BuildArch}}.txt\n",
		"done-525400500501-pcbios-i386.txt": "#!ipxe\nshell\n",
	})
	// Everything runs inside a namespace of its own: QEMU's user-mode DHCP never meets a
	// real interface anyway, but the team rule is "DHCP only in namespaces", no exceptions.
	lab := netlab.New(t)
	ns := lab.Namespace("ipxe")
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	// No lease table here (as in proxy mode): the override is chosen by iPXE's ?mac=, which
	// needs the TrustQueryMAC opt-in.
	s, err := New(Config{Root: dir, TrustQueryMAC: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	qemu := ns.Start("qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-display", "none",
		"-serial", "null", "-monitor", "none", "-no-reboot", "-boot", "n",
		"-netdev", "user,id=n0,bootfile=http://10.0.2.2:"+port+"/boot.ipxe",
		"-device", "e1000,netdev=n0,mac=52:54:00:50:05:01")
	// The ROM build has no poweroff command, so QEMU keeps running: wait for the last
	// request instead, bounded; netlab kills QEMU at cleanup.
	final := "path=/done-525400500501-pcbios-i386.txt status=200"
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(logs.String(), final) && time.Now().Before(deadline) {
		select {
		case <-qemu.Done():
			t.Fatalf("qemu exited early: %v\n%s\nserver log:\n%s", qemu.Err(), qemu.Output(), logs.String())
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

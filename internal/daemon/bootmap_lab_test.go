package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// The boot map (--boot-map) decides the boot file per option 93 architecture, and SIGHUP
// reloads it: a UEFI x64 client (arch 7, as busybox udhcpc sends it) gets the new file
// without a restart.
func TestBootMapReload(t *testing.T) {
	netlab.RequireCommands(t, "busybox")
	lb := newLab(t, "", "")
	dir, _ := netbootDir(t, "first.efi", 100)
	os.WriteFile(filepath.Join(dir, "second.efi"), []byte("x"), 0o644)
	tmp := t.TempDir()
	bootMap := filepath.Join(tmp, "bootmap.json")
	os.WriteFile(bootMap, []byte(`{"7": "first.efi"}`), 0o644)
	script := filepath.Join(tmp, "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"bootfile=$boot_file siaddr=$siaddr\"\nexit 0\n"), 0o755)

	p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.13.2",
		"-b", "10.60.13.100", "-e", "10.60.13.150", "--state-dir", filepath.Join(tmp, "state"), "--boot-map", bootMap)
	waitFor(t, p, "DHCP answering")
	bootFile := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := lb.cli.Run(ctx, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "4", "-T", "1", "-A", "1",
			"-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007", "-x", "0x5e:010300", "-s", script)
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s\n%s", err, out, p.Output())
		}
		m := regexp.MustCompile(`bootfile=(\S*)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no lease:\n%s", out)
		}
		return string(m[1])
	}
	if got := bootFile(); got != "first.efi" {
		t.Fatalf("boot file %q, want first.efi from the boot map\n%s", got, p.Output())
	}
	os.WriteFile(bootMap, []byte(`{"7": "second.efi"}`), 0o644)
	p.Signal(syscall.SIGHUP)
	waitFor(t, p, "boot map reloaded")
	if got := bootFile(); got != "second.efi" {
		t.Fatalf("after SIGHUP: boot file %q, want second.efi\n%s", got, p.Output())
	}
	// Reloads swap the boot configuration in place (dhcpd.SetBoot): no socket may pile up.
	fds := fdCount(t, pid(t, p))
	for i := 0; i < 6; i++ {
		os.WriteFile(bootMap, []byte(`{"7": "`+[]string{"first.efi", "second.efi"}[i%2]+`"}`), 0o644)
		p.Signal(syscall.SIGHUP)
		waitCount(t, p, "boot map reloaded", i+2)
	}
	if got := bootFile(); got != "second.efi" {
		t.Fatalf("after 6 more reloads: boot file %q", got)
	}
	if n := fdCount(t, pid(t, p)); n != fds {
		t.Errorf("descriptors %d after 6 reloads, %d before: leak", n, fds)
	}
	stopOK(t, p)
}

package tftp

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

const ubootBin = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"

// TestUBoot boots U-Boot (Debian's qemu_arm64 build) under QEMU inside the server
// namespace, on a tap device, and has it fetch files with `tftpboot`: U-Boot is the
// strictest PXE-world client (it aborts with ERROR 8 unless timeout is echoed exactly and
// blksize is at most what it asked). The loaded bytes are checked with U-Boot's crc32.
func TestUBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	netlab.RequireCommands(t, "qemu-system-aarch64")
	netlab.RequireFiles(t, ubootBin, "/dev/net/tun")
	l := netlab.New(t)
	b := &lab{srv: l.Namespace("tsrv"), root: t.TempDir()}
	os.Chmod(b.root, 0o755)
	big := writeFile(t, b.root, "kernel.img", 1<<20)
	exact := writeFile(t, b.root, "exact.bin", 1468*20)

	sock := filepath.Join(t.TempDir(), "serial")
	b.srv.Start("qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "256", "-accel", "tcg",
		"-bios", ubootBin, "-display", "none", "-monitor", "none",
		"-serial", "unix:"+sock+",server=on,wait=off",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := b.srv.Run(t.Context(), "ip", "link", "show", "tap0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("QEMU did not create tap0")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.srv.MustRun("ip", "addr", "add", "10.20.5.1/24", "dev", "tap0")
	b.srv.MustRun("ip", "link", "set", "tap0", "up")
	b.start(t)

	var con net.Conn
	var err error
	for time.Now().Before(deadline) {
		if con, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serial console: %v", err)
	}
	defer con.Close()
	u := &console{t: t, c: con}
	// Stop autoboot (it would try DHCP and PXE on its own) and wait for the prompt.
	for i := 0; !u.until("\n=> ", 300*time.Millisecond); i++ {
		if i > 60 {
			t.Fatalf("no U-Boot prompt:\n%s", u.out.String())
		}
		u.send("")
	}
	for _, c := range []string{"setenv ipaddr 10.20.5.2", "setenv netmask 255.255.255.0", "setenv serverip 10.20.5.1"} {
		u.cmd(c, 5*time.Second)
	}

	fetch := func(name string, want []byte, env ...string) {
		t.Helper()
		for _, e := range env {
			u.cmd(e, 5*time.Second)
		}
		out := u.cmd("tftpboot 0x40400000 "+name, 60*time.Second)
		if !strings.Contains(out, fmt.Sprintf("Bytes transferred = %d ", len(want))) {
			t.Fatalf("%s %v: U-Boot said:\n%s\nserver:\n%s", name, env, out, b.proc.Output())
		}
		out = u.cmd(fmt.Sprintf("crc32 0x40400000 0x%x", len(want)), 10*time.Second)
		if sum := fmt.Sprintf("==> %08x", crc32.ChecksumIEEE(want)); !strings.Contains(out, sum) {
			t.Fatalf("%s %v: crc32 mismatch, want %s: %q", name, env, sum, out)
		}
	}
	fetch("kernel.img", big)                                                         // U-Boot's defaults
	fetch("exact.bin", exact)                                                        // a multiple of blksize 1468
	fetch("kernel.img", big, "setenv tftpwindowsize 8", "setenv tftptimeout 2000")   // RFC 7440 + 2349
	fetch("/kernel.img", big, "setenv tftpblocksize 512", "setenv tftpwindowsize 1") // leading slash, lock-step 512
	out := u.cmd("tftpboot 0x40400000 missing.img", 30*time.Second)
	if !strings.Contains(out, "File not found") && !strings.Contains(out, "file not found") {
		t.Fatalf("missing file: U-Boot said:\n%s", out)
	}
	log := b.proc.Output()
	for _, want := range []string{`options="timeout=5 blksize=1468"`, `options="timeout=2 blksize=1468 windowsize=8"`,
		`options="timeout=2 blksize=512"`, `file=kernel.img bytes=1048576`} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %s:\n%s", want, log)
		}
	}
	t.Logf("server log:\n%s", log)
}

// console drives U-Boot's serial console.
type console struct {
	t   *testing.T
	c   net.Conn
	out bytes.Buffer
}

func (u *console) send(line string) {
	u.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.c.Write([]byte(line + "\n")); err != nil {
		u.t.Fatalf("serial write: %v", err)
	}
}

// until reads until the output ends with marker or timeout passes.
func (u *console) until(marker string, timeout time.Duration) bool {
	buf := make([]byte, 4096)
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		u.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _ := u.c.Read(buf)
		u.out.Write(buf[:n])
		if strings.HasSuffix(strings.TrimRight(u.out.String(), " "), strings.TrimRight(marker, " ")) {
			return true
		}
	}
	return false
}

// cmd runs one command and returns what it printed: everything after the command's echo
// up to the next prompt.
func (u *console) cmd(c string, timeout time.Duration) string {
	// Drain whatever is left, so the prompt we wait for is the one after this command.
	u.until("\x00never", 100*time.Millisecond)
	u.out.Reset()
	u.send(c)
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if u.until("\n=> ", time.Until(end)) {
			if i := strings.Index(u.out.String(), c); i >= 0 && strings.Contains(u.out.String()[i:], "\n") {
				return u.out.String()[i+len(c):]
			}
		}
	}
	u.t.Fatalf("%q did not finish within %v: %q", c, timeout, u.out.String())
	return ""
}

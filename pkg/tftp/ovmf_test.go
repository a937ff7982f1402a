package tftp

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ipxeSNP  = "/usr/lib/ipxe/snponly.efi"
)

// TestOVMF network-boots EDK2 (Debian's OVMF under QEMU, TCG) from the server inside a
// namespace: dnsmasq hands out an address and the boot file (DHCP only, on the tap device
// QEMU made in that namespace), pkg/tftp serves it. EDK2 first asks for tsize and aborts
// with ERROR 8 once it has the size; that must end quietly (debug level), and the real
// transfer that follows, with blksize 1468 and windowsize 4, must complete. The boot file is
// iPXE's snponly.efi, whose banner on the serial console shows the image ran.
func TestOVMF(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU test")
	}
	netlab.RequireCommands(t, "qemu-system-x86_64", "dnsmasq")
	netlab.RequireFiles(t, ovmfCode, ovmfVars, ipxeSNP, "/dev/net/tun")
	l := netlab.New(t)
	b := &lab{srv: l.Namespace("tsrv"), root: t.TempDir()}
	os.Chmod(b.root, 0o755)
	img, err := os.ReadFile(ipxeSNP)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.root, "bootx64.efi"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	vars, _ := os.ReadFile(ovmfVars)
	os.WriteFile(filepath.Join(tmp, "vars.fd"), vars, 0o644)
	serial := filepath.Join(tmp, "serial.log")

	b.srv.Start("qemu-system-x86_64", "-M", "q35", "-m", "256", "-accel", "tcg",
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial,
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,file="+filepath.Join(tmp, "vars.fd"),
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=", "-boot", "n")
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
	b.start(t, "TFTP_DEBUG=1")
	b.srv.Start("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=tap0",
		"--bind-interfaces", "--dhcp-range=10.20.5.50,10.20.5.99,255.255.255.0",
		"--dhcp-boot=bootx64.efi,,10.20.5.1", "--dhcp-leasefile="+filepath.Join(tmp, "leases"))

	done := regexp.MustCompile(`msg="tftp transfer done" client=\S+ file=bootx64.efi bytes=` + strconv.Itoa(len(img)) + ` .*options="blksize=1468 windowsize=4"`)
	probe := regexp.MustCompile(`level=DEBUG msg="tftp transfer ended by client" .*file=bootx64.efi bytes=0 .*options="tsize=` + strconv.Itoa(len(img)) + ` blksize=1468 windowsize=4".* code=8`)
	end := time.Now().Add(150 * time.Second)
	for time.Now().Before(end) {
		con, _ := os.ReadFile(serial)
		log := b.proc.Output()
		if done.MatchString(log) && strings.Contains(string(con), "iPXE") {
			if !probe.MatchString(log) {
				t.Fatalf("no quiet tsize probe (ERROR 8) before the transfer:\n%s", tftpLines(log))
			}
			if strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
				t.Fatalf("warnings in the server log:\n%s", tftpLines(log))
			}
			t.Logf("server:\n%s", tftpLines(log))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	con, _ := os.ReadFile(serial)
	t.Fatalf("OVMF did not boot the image within 150 s.\nserver:\n%s\nconsole tail:\n%q", tftpLines(b.proc.Output()), tail(string(con), 2000))
}

// tftpLines drops per-packet debug lines from a server log.
func tftpLines(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `msg="tftp send"`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

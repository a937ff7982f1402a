//go:build linux

package rawdhcp

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

var update = flag.Bool("update", false, "recapture the golden DISCOVERs in testdata/ from real clients and firmware in namespaces")

// goldenClient describes how to make one real client send a DISCOVER in a namespace.
type goldenClient struct {
	name  string   // testdata/<name>.pcap
	cmds  []string // commands that must exist
	files []string // firmware that must exist
	tap   bool     // QEMU guest: capture on a tap device instead of a veth
	cidr  string   // address for the client's interface (nmap needs one to pick it)
	wait  time.Duration
	argv  func(dir, ifname string) []string
	// typeIn, if set, is typed on the client's stdin once its output contains waitFor.
	waitFor, typeIn string
}

var goldenClients = []goldenClient{
	{name: "dhclient", cmds: []string{"dhclient"}, wait: 30 * time.Second, argv: func(dir, ifn string) []string {
		return []string{"dhclient", "-4", "-d", "-v", "-lf", dir + "/leases", "-pf", dir + "/pid", "-sf", "/bin/true", ifn}
	}},
	{name: "udhcpc", cmds: []string{"busybox"}, wait: 30 * time.Second, argv: func(dir, ifn string) []string {
		return []string{"busybox", "udhcpc", "-i", ifn, "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", "/bin/true"}
	}},
	{name: "dhcpcd", cmds: []string{"dhcpcd"}, wait: 30 * time.Second, argv: func(dir, ifn string) []string {
		return []string{"dhcpcd", "-4", "-B", "-T", "-t", "20", "-f", "/dev/null", ifn}
	}},
	{name: "nmap", cmds: []string{"nmap"}, cidr: "10.30.9.2/24", wait: 60 * time.Second, argv: func(dir, ifn string) []string {
		return []string{"nmap", "-e", ifn, "--script", "broadcast-dhcp-discover", "--script-args", "broadcast-dhcp-discover.timeout=5s"}
	}},
	{name: "qemu-bios-ipxe", cmds: []string{"qemu-system-x86_64"}, files: []string{"/usr/lib/ipxe/qemu/efi-e1000.rom"}, tap: true, wait: 120 * time.Second,
		argv: func(dir, ifn string) []string {
			return []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-boot", "n", "-display", "none", "-serial", "null", "-monitor", "none", "-no-reboot",
				"-netdev", "tap,id=n0,ifname=" + ifn + ",script=no,downscript=no",
				"-device", "e1000,netdev=n0,mac=" + capMAC + ",romfile=/usr/lib/ipxe/qemu/efi-e1000.rom"}
		}},
	// QEMU's default e1000 ROM is iPXE: under OVMF its EFI build answers first.
	{name: "qemu-ovmf-ipxe", cmds: []string{"qemu-system-x86_64"}, files: []string{"/usr/share/qemu/OVMF.fd", "/usr/lib/ipxe/qemu/efi-e1000.rom"}, tap: true, wait: 180 * time.Second,
		argv: func(dir, ifn string) []string {
			return []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-bios", "/usr/share/qemu/OVMF.fd", "-display", "none", "-serial", "null", "-monitor", "none", "-no-reboot",
				"-netdev", "tap,id=n0,ifname=" + ifn + ",script=no,downscript=no",
				"-device", "e1000,netdev=n0,mac=" + capMAC + ",romfile=/usr/lib/ipxe/qemu/efi-e1000.rom"}
		}},
	// virtio-net without a ROM: EDK2's own network stack and PXE base code.
	{name: "qemu-ovmf", cmds: []string{"qemu-system-x86_64"}, files: []string{"/usr/share/qemu/OVMF.fd"}, tap: true, wait: 180 * time.Second,
		argv: func(dir, ifn string) []string {
			return []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-bios", "/usr/share/qemu/OVMF.fd", "-display", "none", "-serial", "null", "-monitor", "none", "-no-reboot",
				"-netdev", "tap,id=n0,ifname=" + ifn + ",script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=n0,mac=" + capMAC + ",romfile="}
		}},
	{name: "qemu-aavmf", cmds: []string{"qemu-system-aarch64"}, files: []string{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"}, tap: true, wait: 240 * time.Second,
		argv: func(dir, ifn string) []string {
			return []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-display", "none", "-serial", "null", "-monitor", "none", "-no-reboot",
				"-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd",
				"-drive", "if=pflash,format=raw,file=" + dir + "/vars.fd",
				"-netdev", "tap,id=n0,ifname=" + ifn + ",script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=n0,mac=" + capMAC + ",romfile="}
		}},
	{name: "qemu-uboot", cmds: []string{"qemu-system-aarch64"}, files: []string{"/usr/lib/u-boot/qemu_arm64/u-boot.bin"}, tap: true, wait: 120 * time.Second,
		waitFor: "Hit any key", typeIn: "\ndhcp\n",
		argv: func(dir, ifn string) []string {
			return []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-nographic", "-no-reboot",
				"-bios", "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
				"-netdev", "tap,id=n0,ifname=" + ifn + ",script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=n0,mac=" + capMAC + ",romfile="}
		}},
}

// TestCaptureGolden recaptures testdata/*.pcap with -update: each client runs in its own
// namespace (no DHCP server anywhere) and tshark keeps its first DISCOVER.
//
//	go test ./pkg/rawdhcp -run TestCaptureGolden -update -v
func TestCaptureGolden(t *testing.T) {
	if !*update {
		t.Skip("golden packets are recaptured only with -update")
	}
	for _, gc := range goldenClients {
		t.Run(gc.name, func(t *testing.T) {
			netlab.RequireCommands(t, append([]string{"tshark", "ip"}, gc.cmds...)...)
			netlab.RequireFiles(t, gc.files...)
			captureOne(t, gc)
		})
	}
}

func captureOne(t *testing.T, gc goldenClient) {
	l := netlab.New(t)
	cli := l.Namespace("cap")
	ifn := "rdc0"
	if gc.tap {
		cli.MustRun("ip", "tuntap", "add", "dev", ifn, "mode", "tap")
		cli.MustRun("ip", "link", "set", ifn, "up")
	} else {
		sw := l.Namespace("sw")
		l.Veth(cli, ifn, gc.cidr, sw, "rds0", "")
	}
	dir := t.TempDir()
	if gc.name == "qemu-aavmf" {
		vars, err := os.ReadFile("/usr/share/AAVMF/AAVMF_VARS.fd")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/vars.fd", vars, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pcap := filepath.Join(dir, "cap.pcap")
	// The capture file must be writable by dumpcap, which may drop privileges.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ts := cli.Start("tshark", "-n", "-i", ifn, "-f", "udp dst port 67", "-c", "1", "-F", "pcap", "-w", pcap,
		"-a", "duration:"+itoa(int(gc.wait/time.Second)))
	if !ts.WaitOutput("Capture started", 20*time.Second) {
		t.Fatalf("tshark did not start:\n%s", ts.Output())
	}
	stopClient := startClient(t, cli, gc, dir, ifn)
	select {
	case <-ts.Done():
	case <-time.After(gc.wait + 10*time.Second):
		t.Fatalf("no DISCOVER within %v", gc.wait)
	}
	out := stopClient()
	frames, err := readPcap(pcap)
	if err != nil || len(frames) == 0 {
		t.Fatalf("no frame captured (%v); tshark:\n%s\nclient:\n%s", err, ts.Output(), out)
	}
	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", gc.name+".pcap"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("captured %s: %d bytes", gc.name, len(b))
}

// startClient runs the client in ns (with a stdin pipe for U-Boot's shell) and returns a
// function that kills its process group and returns its output.
func startClient(t *testing.T, ns *netlab.NS, gc goldenClient, dir, ifn string) func() string {
	stop, _ := startClientOut(t, ns, gc, dir, ifn)
	return stop
}

// startClientOut is startClient that also returns the live output buffer.
func startClientOut(t *testing.T, ns *netlab.NS, gc goldenClient, dir, ifn string) (func() string, *netlab.SyncBuffer) {
	ctx, cancel := context.WithTimeout(context.Background(), gc.wait+30*time.Second)
	cmd := ns.Exec(ctx, gc.argv(dir, ifn)...)
	out := &netlab.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stdin io.WriteCloser
	if gc.typeIn != "" {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if stdin != nil {
		go func() {
			deadline := time.Now().Add(gc.wait)
			for time.Now().Before(deadline) && !strings.Contains(out.String(), gc.waitFor) {
				time.Sleep(100 * time.Millisecond)
			}
			_, _ = io.WriteString(stdin, gc.typeIn)
		}()
	}
	var once sync.Once
	stop := func() string {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			cancel()
		})
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop, out
}

func itoa(n int) string { return strconv.Itoa(n) }

func chmodAll(dir string) error { return os.Chmod(dir, 0o777) }

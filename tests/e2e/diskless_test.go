package e2e

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// Diskless Linux end to end (issue 13): an x86-64 guest gets its address from pxe-edge, its
// root file system over NBD, writes to it and says so on the console. The guest's kernel,
// initramfs and root image come from scripts/diskless-assets.sh (Debian packages, cached);
// docs/diskless.md describes them.

// nbdBackendEnv selects the NBD server the diskless tests use: "pxe-edge" (the default:
// pxe-edge's own --nbd, per-client copy-on-write overlays keyed by MAC), or, to compare, the
// stand-ins "qemu-nbd" (Debian's qemu-utils serving one shared image) and
// "qemu-storage-daemon" (one qcow2 overlay and export per MAC, which the tests know in
// advance).
const nbdBackendEnv = "PXE_EDGE_DISKLESS_NBD"

// nbdPort is the NBD port of every backend (the IANA port, PyPXE's default).
const nbdPort = 10809

// diskless is what a diskless test needs: the cached assets and the NBD server in use.
type diskless struct {
	dir string // scripts/diskless-assets.sh's cache: vmlinuz, initrd.gz, root.ext4
	nbd nbdServer
}

// nbdServer is one running NBD server as the guests see it.
type nbdServer struct {
	backend string
	port    int
	export  string
	// exportPerMAC: the export is export + "-" + the client's MAC in hexhyp form.
	exportPerMAC bool
	// serverFlags go on pxe-edge's command line (the pxe-edge backend serves NBD itself).
	serverFlags []string
	// perClient: each client MAC gets its own copy-on-write view of the image, so a second
	// machine does not see the first one's writes. A plain server shares one image.
	perClient bool
	// image is the file served; base is true when the server must leave it unchanged.
	image string
	base  bool
}

// startNBDServer serves image (a private copy of root.ext4) to guests on e's bridge, on
// e.ServerIP(), with the backend $PXE_EDGE_DISKLESS_NBD names; macs are the clients the test
// will boot. It is the one place that knows which NBD server runs: a stand-in is started
// here; for pxe-edge the returned serverFlags must be given to e.startServer, which starts it.
func startNBDServer(t *testing.T, e *env, image string, macs ...string) nbdServer {
	t.Helper()
	backend := os.Getenv(nbdBackendEnv)
	if backend == "" {
		backend = "pxe-edge"
	}
	switch backend {
	case "qemu-nbd":
		netlab.RequireCommands(t, "qemu-nbd")
		// --persistent: serve the next boot too; --shared: a powered-off guest never closes
		// its connection, and its stale socket must not block the next one.
		e.srv.Start("qemu-nbd", "--format=raw", "--export-name=root", "--persistent", "--shared=8",
			"--bind="+e.ServerIP(), fmt.Sprintf("--port=%d", nbdPort), image)
		waitListen(t, e.srv, nbdPort, 20*time.Second)
		return nbdServer{backend: backend, port: nbdPort, export: "root", image: image}
	case "qemu-storage-daemon":
		netlab.RequireCommands(t, "qemu-storage-daemon", "qemu-img")
		argv := []string{"qemu-storage-daemon", "--nbd-server",
			fmt.Sprintf("addr.type=inet,addr.host=%s,addr.port=%d,max-connections=16", e.ServerIP(), nbdPort)}
		for i, mac := range macs {
			// The base stays read-only under each overlay, as pxe-edge's --nbd-cow keeps it.
			overlay := filepath.Join(filepath.Dir(image), hexhyp(mac)+".qcow2")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, overlay).CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("qemu-img create %s: %v\n%s", overlay, err, out)
			}
			argv = append(argv,
				"--blockdev", fmt.Sprintf("driver=qcow2,node-name=n%d,file.driver=file,file.filename=%s", i, overlay),
				"--export", fmt.Sprintf("type=nbd,id=e%d,node-name=n%d,name=root-%s,writable=on", i, i, hexhyp(mac)))
		}
		e.srv.Start(argv...)
		waitListen(t, e.srv, nbdPort, 20*time.Second)
		return nbdServer{backend: backend, port: nbdPort, export: "root", exportPerMAC: true, perClient: true,
			image: image, base: true}
	case "pxe-edge":
		// pxe-edge's default export serves --nbd FILE under its base name (and ""). Its NBD
		// service starts before DHCP answers, so e.startServer's wait covers it.
		return nbdServer{backend: backend, port: nbdPort, export: filepath.Base(image), perClient: true,
			image: image, base: true,
			serverFlags: []string{"--nbd", image, "--nbd-write", "--nbd-cow", "--nbd-port", fmt.Sprint(nbdPort)}}
	default:
		t.Fatalf("%s=%q: use qemu-nbd, qemu-storage-daemon or pxe-edge", nbdBackendEnv, backend)
		return nbdServer{}
	}
}

// waitListen waits (bounded) until a TCP socket in ns listens on port. It asks ss rather
// than connecting, which a server would log as a failed negotiation.
func waitListen(t *testing.T, ns *netlab.NS, port int, timeout time.Duration) {
	t.Helper()
	netlab.RequireCommands(t, "ss")
	deadline := time.Now().Add(timeout)
	for {
		out, err := ns.Run(context.Background(), "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d within %v (%v)", port, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// disklessAssets runs scripts/diskless-assets.sh (cached after the first run) or takes
// $DISKLESS_ASSETS, and returns the directory holding vmlinuz, initrd.gz and root.ext4.
func disklessAssets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DISKLESS_ASSETS")
	if dir == "" {
		netlab.RequireCommands(t, "apt-get", "dpkg-deb", "cpio", "mkfs.ext4")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(netlab.ModuleRoot(t), "scripts", "diskless-assets.sh"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			netlab.Missing(t, "scripts/diskless-assets.sh could not build the guest: %v\n%s", err, stderr.String())
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, f := range []string{"vmlinuz", "initrd.gz", "root.ext4"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			netlab.Missing(t, "diskless assets: %v", err)
		}
	}
	return dir
}

// setupDiskless builds the assets and starts the NBD server on a private copy of the root
// image (the cached one stays pristine) for the clients macs.
func setupDiskless(t *testing.T, e *env, macs ...string) *diskless {
	t.Helper()
	dir := disklessAssets(t)
	image := filepath.Join(t.TempDir(), "root.ext4")
	copyFile(t, filepath.Join(dir, "root.ext4"), image)
	return &diskless{dir: dir, nbd: startNBDServer(t, e, image, macs...)}
}

// hexhyp is a MAC in iPXE's ${mac:hexhyp} form (52-54-00-…).
func hexhyp(mac string) string { return strings.ReplaceAll(mac, ":", "-") }

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, b)
}

// exportFor is the export name client mac uses.
func (n nbdServer) exportFor(mac string) string {
	if n.exportPerMAC {
		return n.export + "-" + hexhyp(mac)
	}
	return n.export
}

// nbdroot is the kernel parameter naming mac's root on server: Debian's form
// (nbdroot=SERVER,PORT,EXPORT) or, with dracut set, dracut's (nbdroot=SERVER:PORT/EXPORT).
func (d *diskless) nbdroot(server, mac string, dracut bool) string {
	if dracut {
		return fmt.Sprintf("nbdroot=%s:%d/%s", server, d.nbd.port, d.nbd.exportFor(mac))
	}
	return fmt.Sprintf("nbdroot=%s,%d,%s", server, d.nbd.port, d.nbd.exportFor(mac))
}

var disklessOK = regexp.MustCompile(`PXE-EDGE-DISKLESS-OK boots=(\d+) mac=(\S+) ip=(\S+)`)

// expectBoot waits for g's marker, checks it reports boots=want for mac, and waits for the
// guest to power itself off. It returns the time from power-on to the marker.
func expectBoot(t *testing.T, g *guest, mac string, want int) time.Duration {
	t.Helper()
	m := g.waitRE(disklessOK, guestTimeout)
	took := time.Since(g.start)
	if m[1] != fmt.Sprint(want) || m[2] != mac {
		t.Errorf("%s: marker %q, want boots=%d mac=%s", g.name, m[0], want, mac)
	}
	select {
	case <-g.done:
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not power off within 60 s of its marker", g.name)
	}
	if strings.Contains(g.Console(), "PXE-EDGE-DISKLESS-FAIL") {
		t.Errorf("%s reported a failure", g.name)
	}
	return took
}

// checkImage reads /diskless-boots from the served image file with debugfs: a shared image
// holds the last count; a base image under per-client overlays must hold none.
func checkImage(t *testing.T, d *diskless, want string) {
	t.Helper()
	if _, err := netlab.LookPath("debugfs"); err != nil {
		t.Logf("debugfs missing: image contents not checked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "debugfs", "-R", "cat /diskless-boots", d.nbd.image).CombinedOutput()
	got := strings.TrimSpace(string(out))
	if d.nbd.base {
		if regexp.MustCompile(`(?m)^\d+$`).MatchString(got) {
			t.Errorf("the base image was written (/diskless-boots = %q); writes belong in the overlays", got)
		}
		return
	}
	if !strings.HasSuffix(got, want) {
		t.Errorf("/diskless-boots in the served image: %q, want %s", got, want)
	}
}

// disklessGuest is a QEMU x86-64 guest whose kernel and initramfs QEMU loads itself
// (-kernel/-initrd): the DHCP and NBD half of the boot without the firmware.
func disklessGuest(t *testing.T, d *diskless, tap, mac, nbdroot string) []string {
	netlab.RequireCommands(t, "qemu-system-x86_64")
	return append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "256",
		"-kernel", filepath.Join(d.dir, "vmlinuz"), "-initrd", filepath.Join(d.dir, "initrd.gz"),
		"-append", "console=ttyS0 panic=5 " + nbdroot,
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"},
		nic(tap, mac, "none")...)
}

// The guest's own half: kernel and initramfs from QEMU, address from pxe-edge's DHCP
// (busybox udhcpc), root over NBD, a write on it, and a second boot that sees the write. The
// first boot names its root in Debian's nbdroot= form, the second in dracut's, or, with
// pxe-edge's NBD, nbdroot=dhcp: the root path from DHCP option 17.
func TestDisklessKernelNBD(t *testing.T) {
	e := newEnv(t, 30)
	const mac = "52:54:00:70:30:10"
	d := setupDiskless(t, e, mac)
	e.startServer(append([]string{"--dhcp"}, d.nbd.serverFlags...)...)
	tap := e.tap()
	for boot := 1; boot <= 2; boot++ {
		spec := d.nbdroot(e.ServerIP(), mac, boot == 2)
		if boot == 2 && d.nbd.backend == "pxe-edge" {
			// pxe-edge names its --nbd root in DHCP option 17 to clients that ask.
			spec = "nbdroot=dhcp"
		}
		g := e.startGuest(fmt.Sprintf("diskless-kernel-%d", boot), disklessGuest(t, d, tap, mac, spec)...)
		took := expectBoot(t, g, mac, boot)
		t.Logf("boot %d (-kernel, NBD via %s): marker after %v", boot, d.nbd.backend, took.Round(100*time.Millisecond))
	}
	checkImage(t, d, "2")
}

// The whole path, as the issue asks: QEMU's iPXE ROM does DHCP with pxe-edge and fetches
// boot.ipxe over HTTP, which pxe-edge answers with the client's hosts/<mac>.ipxe; that loads
// the kernel and initramfs over HTTP with nbdroot= on the kernel line; the initramfs takes the
// root over NBD, the root's init counts the boot on it. The same machine booted again sees its write (boots=2); another MAC
// sees a root of its own (boots=1), which needs per-client overlays (the pxe-edge backend).
func TestDisklessPXE(t *testing.T) {
	e := newEnv(t, 31)
	const mac1, mac2 = "52:54:00:70:31:10", "52:54:00:70:31:20"
	d := setupDiskless(t, e, mac1, mac2)
	copyFile(t, filepath.Join(d.dir, "vmlinuz"), filepath.Join(e.dir, "diskless", "vmlinuz"))
	copyFile(t, filepath.Join(d.dir, "initrd.gz"), filepath.Join(e.dir, "diskless", "initrd.gz"))
	for _, mac := range []string{mac1, mac2} {
		writeFile(t, filepath.Join(e.dir, "hosts", hexhyp(mac)+".ipxe"), []byte(disklessHostScript(d, mac)))
	}
	e.startServer(append([]string{"--dhcp", "--ipxe", "--http", "--http-port", "80"}, d.nbd.serverFlags...)...)

	tap1 := e.tap()
	for boot := 1; boot <= 2; boot++ {
		g := e.startGuest(fmt.Sprintf("diskless-pxe-%d", boot), biosGuest(t, tap1, mac1)...)
		g.wait("pxe-edge: diskless boot", guestTimeout)
		took := expectBoot(t, g, mac1, boot)
		t.Logf("boot %d of %s (iPXE ROM → HTTP → NBD via %s): marker after %v", boot, mac1, d.nbd.backend, took.Round(100*time.Millisecond))
	}
	// pxe-edge answers this client's /boot.ipxe with its hosts/<mac>.ipxe (pkg/http).
	for _, path := range []string{"/boot.ipxe", "/diskless/vmlinuz", "/diskless/initrd.gz"} {
		if !strings.Contains(e.pxe.Output(), "path="+path+" status=200") {
			t.Errorf("pxe-edge did not serve %s over HTTP:\n%s", path, e.pxe.Output())
		}
	}
	if !d.nbd.perClient {
		checkImage(t, d, "2")
	}

	tap2 := e.tap()
	t.Run("other MAC sees its own root", func(t *testing.T) {
		if !d.nbd.perClient {
			t.Skipf("the %s stand-in serves one shared image to every client; a second MAC seeing "+
				"boots=1 needs per-client overlays (%s=pxe-edge, or the qemu-storage-daemon stand-in)", d.nbd.backend, nbdBackendEnv)
		}
		se := *e
		se.t = t
		g := se.startGuest("diskless-pxe-other", biosGuest(t, tap2, mac2)...)
		took := expectBoot(t, g, mac2, 1)
		t.Logf("%s (another MAC): marker after %v", mac2, took.Round(100*time.Millisecond))
		checkImage(t, d, "")
	})
}

// disklessHostScript is the per-host iPXE script: kernel and initramfs from the netboot root
// over HTTP, the root over NBD from the server that answered DHCP. pxe-edge's own NBD root is
// named by the script template ({{.NBD.root}}, rendered per client).
func disklessHostScript(d *diskless, mac string) string {
	if d.nbd.backend == "pxe-edge" {
		return `#!ipxe
echo pxe-edge: diskless boot for ${netX/mac}
kernel ../diskless/vmlinuz console=ttyS0 panic=5 BOOTIF=01-${netX/mac:hexhyp} nbdroot={{.NBD.root}}
initrd ../diskless/initrd.gz
boot
`
	}
	return fmt.Sprintf(`#!ipxe
echo pxe-edge: diskless boot for ${netX/mac}
kernel ../diskless/vmlinuz console=ttyS0 panic=5 BOOTIF=01-${netX/mac:hexhyp} nbdroot=${next-server},%d,%s
initrd ../diskless/initrd.gz
boot
`, d.nbd.port, d.nbd.exportFor(mac))
}

// The initramfs's nbdroot= parser, run from the built initramfs itself with busybox sh on the
// host: every documented form, defaults, and root paths from DHCP option 17.
func TestDisklessNBDRootSyntax(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the diskless assets (downloads Debian packages once)")
	}
	netlab.RequireCommands(t, "busybox")
	dir := disklessAssets(t)
	init := filepath.Join(t.TempDir(), "init")
	writeFile(t, init, initramfsFile(t, filepath.Join(dir, "initrd.gz"), "init"))
	for _, c := range []struct{ spec, rootPath, want string }{
		{"10.0.0.1,10809,root", "", "server=10.0.0.1 port=10809 export=root"},
		{"10.0.0.1,10810", "", "server=10.0.0.1 port=10810 export="},
		{"10.0.0.1,root", "", "server=10.0.0.1 port=10809 export=root"},
		{"10.0.0.1", "", "server=10.0.0.1 port=10809 export="},
		{",10809,root", "", "server=10.9.9.9 port=10809 export=root"},
		{"10.0.0.1:10811/root.ext4", "", "server=10.0.0.1 port=10811 export=root.ext4"},
		{"10.0.0.1/root", "", "server=10.0.0.1 port=10809 export=root"},
		{"10.0.0.1:10812", "", "server=10.0.0.1 port=10812 export="},
		{"nbd:10.0.0.1:10813:root", "", "server=10.0.0.1 port=10813 export=root"},
		{"dhcp", "nbd:10.1.1.1:10814:rp", "server=10.1.1.1 port=10814 export=rp"},
		{"dhcp", "10.1.1.2,10815,rp", "server=10.1.1.2 port=10815 export=rp"},
		{"dhcp", "", "PXE-EDGE-DISKLESS-FAIL nbdroot=dhcp but the DHCP server sent no root path (option 17)"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := exec.CommandContext(ctx, "busybox", "sh", init, "--parse-nbdroot", c.spec, "10.9.9.9", c.rootPath).CombinedOutput()
		cancel()
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("nbdroot=%s (root path %q): %q, want %q", c.spec, c.rootPath, got, c.want)
		}
	}
}

// initramfsFile returns the contents of name in a gzip-compressed newc cpio archive.
func initramfsFile(t *testing.T, archive, name string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(zr)
	var hdr [110]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("%s: no %s: %v", archive, name, err)
		}
		if string(hdr[:6]) != "070701" {
			t.Fatalf("%s: not a newc cpio archive", archive)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("%s: bad cpio header: %v", archive, err)
			}
			return int(v)
		}
		size, nameSize := field(6), field(11)
		nb := make([]byte, (110+nameSize+3)&^3-110)
		if _, err := io.ReadFull(r, nb); err != nil {
			t.Fatal(err)
		}
		n := strings.TrimPrefix(string(nb[:nameSize-1]), "./")
		if n == "TRAILER!!!" {
			t.Fatalf("%s: no %s", archive, name)
		}
		data := make([]byte, (size+3)&^3)
		if _, err := io.ReadFull(r, data); err != nil {
			t.Fatal(err)
		}
		if n == name {
			return data[:size]
		}
	}
}

package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// OVMF's Secure Boot build (package ovmf): SMM-protected variable store, and a variable
// template with Microsoft's keys enrolled and Secure Boot on.
const (
	ovmfSecbootCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfSecbootVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
	// The Debian installer's netboot kernel and initrd (package
	// debian-installer-12-netboot-amd64); the kernel is signed with Debian's key.
	diNetboot = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"
	// sbMarker is the first line of the static grub.cfg the arm64 test serves (the
	// catalogue's entries are x86-64 kernels).
	sbMarker = "pxe-edge: secure boot test grub.cfg"
	// diFirstScreen is the Debian installer's first dialog on its serial console.
	diFirstScreen = "Select a language"
)

// sbGuest is x86-64 UEFI with Secure Boot enforced: OVMF's secboot build on q35 with SMM
// and a secure pflash, Microsoft's keys enrolled in a private copy of the variable store,
// EDK2's own network stack (no iPXE ROM on the NIC).
func sbGuest(t *testing.T, tap, mac string, extra ...string) []string {
	netlab.RequireCommands(t, "qemu-system-x86_64")
	netlab.RequireFiles(t, ovmfSecbootCode, ovmfSecbootVars)
	vars := filepath.Join(t.TempDir(), "vars.fd")
	b, err := os.ReadFile(ovmfSecbootVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "1024",
		"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfSecbootCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"}, nic(tap, mac, "none")...)
	return append(argv, extra...)
}

// sbNetboot puts the Debian installer's kernel and initrd into the netboot directory and,
// unless pxe-edge serves a generated one (the image catalogue), a static grub/grub.cfg that
// boots them with the console on the serial port. Debian's signed GRUB network image reads
// $prefix/grub.cfg with the prefix /grub on the server it was loaded from.
func sbNetboot(t *testing.T, e *env) {
	t.Helper()
	netlab.RequireFiles(t, filepath.Join(diNetboot, "linux"), filepath.Join(diNetboot, "initrd.gz"))
	for _, f := range []string{"linux", "initrd.gz"} {
		dst := filepath.Join(e.dir, "debian-installer", "amd64", f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		// A hard link when possible: the initrd is 40 MB.
		if err := os.Link(filepath.Join(diNetboot, f), dst); err != nil {
			b, err := os.ReadFile(filepath.Join(diNetboot, f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dst, b)
		}
	}
	cfg := `echo "` + sbMarker + `"
echo "pxe-edge: grub.cfg reached root=$root prefix=$prefix"
set timeout=1
set default=0
menuentry "Debian installer (signed kernel)" {
	echo "pxe-edge: loading the installer"
	linux /debian-installer/amd64/linux console=ttyS0,115200 priority=high ---
	initrd /debian-installer/amd64/initrd.gz
}
`
	writeFile(t, filepath.Join(e.dir, "grub", "grub.cfg"), []byte(cfg))
}

// fetchLog captures (dumpcap on br0, headers only) every TFTP read request and HTTP request
// the guest makes, independently of pxe-edge's own logs.
type fetchLog struct {
	t    *testing.T
	proc *netlab.Proc
	path string
}

func (e *env) captureFetches() *fetchLog {
	e.t.Helper()
	netlab.RequireCommands(e.t, "tshark", "dumpcap")
	dir := e.t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		e.t.Fatal(err)
	}
	l := &fetchLog{t: e.t, path: filepath.Join(dir, "fetches.pcap")}
	l.proc = e.srv.Start("dumpcap", "-P", "-i", "br0", "-s", "512", "-f", "udp dst port 69 or tcp dst port 80",
		"-a", "duration:"+fmt.Sprint(int(2*guestTimeout/time.Second)), "-w", l.path)
	if !l.proc.WaitOutput("Capturing on", 20*time.Second) {
		e.t.Fatalf("dumpcap did not start:\n%s", l.proc.Output())
	}
	time.Sleep(500 * time.Millisecond)
	return l
}

// files stops the capture and returns every file name asked for, as "tftp NAME" and
// "http PATH", in order.
func (l *fetchLog) files() []string {
	l.t.Helper()
	stopCapture(l.proc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", "-n", "-r", l.path, "-d", "tcp.port==80,http",
		"-Y", "(udp.dstport == 69 && tftp.opcode == 1) || (tcp.dstport == 80 && http.request)",
		"-T", "fields", "-e", "udp.dstport", "-e", "tftp.source_file", "-e", "http.request.uri").Output()
	if err != nil {
		l.t.Fatalf("tshark -r: %v", err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		switch {
		case len(f) < 3:
		case f[0] == "69":
			names = append(names, "tftp "+f[1])
		case f[2] != "":
			names = append(names, "http "+f[2])
		}
	}
	return names
}

// checkSigned fails the test when a Secure Boot machine asked for anything but the signed
// chain (shim, the signed GRUB, GRUB's configuration and fonts) and the signed installer.
func checkSigned(t *testing.T, names []string) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("the capture saw no TFTP or HTTP request")
	}
	for _, n := range names {
		_, p, _ := strings.Cut(n, " ")
		p = strings.TrimLeft(p, "/")
		base := path.Base(p)
		switch {
		case boot.IsIPXEBinary(p) || strings.HasSuffix(p, ".ipxe"):
			t.Errorf("a Secure Boot machine fetched the unsigned %q", n)
		case base == boot.FileShimX64 || base == "grubx64.efi", base == boot.FileShimAA64 || base == "grubaa64.efi":
		case strings.HasPrefix(base, "revocations") && strings.HasSuffix(base, ".efi"),
			strings.HasPrefix(base, "shim_certificate") && strings.HasSuffix(base, ".efi"):
			// shim looks beside itself for its optional signed revocation lists and
			// certificates (absent here): it verifies them before use.
		case strings.HasPrefix(p, "grub/"), strings.HasPrefix(p, "debian-installer/amd64/"),
			strings.HasPrefix(p, "images/debian-installer/"):
		default:
			t.Errorf("a Secure Boot machine fetched %q, which is not part of the signed chain", n)
		}
	}
}

// The Secure Boot chain over PXE: OVMF with Secure Boot enforced and Microsoft's keys gets
// shimx64.efi over TFTP (--secure-boot), shim loads the signed grubx64.efi beside it, GRUB
// reads grub/grub.cfg and boots Debian's signed installer kernel and initrd to the
// installer's first screen. Every file the machine asked for is part of the signed chain.
func TestSecureBootPXE(t *testing.T) {
	t.Setenv("NETBOOT_FETCH_SHIM", "1") // the signed GRUB 2.12 (see scripts/fetch-shim.sh)
	e := newEnv(t, 50)
	prof := sbCatalogue(t, e, "52:54:00:70:50:10")
	fl := e.captureFetches()
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", "--secure-boot", "--profiles", prof)
	g := e.startGuest("ovmf-secboot-pxe", sbGuest(t, e.tap(), "52:54:00:70:50:10")...)
	grub := g.wait(sbGeneratedMarker, guestTimeout)
	took := g.wait(diFirstScreen, installerTimeout)
	checkSigned(t, fl.files())
	checkGenerated(t, p.Output(), "tftp")
	t.Logf("Secure Boot OVMF PXE → shimx64.efi → grubx64.efi → pxe-edge's generated grub.cfg in %v → installer's first screen in %v",
		grub.Round(100e6), took.Round(100e6))
	if !strings.Contains(p.Output(), "file=shimx64.efi") {
		t.Errorf("the DHCP answer did not name shimx64.efi:\n%s", tail(p.Output(), 3000))
	}
}

// sbGeneratedMarker is what GRUB prints on the console when it starts the installer entry
// of the grub.cfg pxe-edge generated (images.GRUBMenu's echo).
const sbGeneratedMarker = "Loading debian-installer"

// sbCatalogue makes Debian's netboot installer a kernel + initrd entry of the image
// catalogue (and removes netboot's static grub.cfg: pxe-edge generates it) and writes a profiles file that
// boots it at once, with the console on the serial port, on the machine mac; it returns
// the file's path.
func sbCatalogue(t *testing.T, e *env, mac string) string {
	t.Helper()
	// As for boot.ipxe, a grub/grub.cfg in the netboot directory wins over the generated one.
	if err := os.Remove(filepath.Join(e.dir, "grub", "grub.cfg")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	e.installerDir("debian-installer")
	prof := filepath.Join(e.state, "profiles.json")
	writeFile(t, prof, []byte(`{"default": "local", "timeout": 10, "args": "console=ttyS0,115200 priority=high",
  "profiles": [{"name": "sb-installer", "match": {"mac": ["`+mac+`"]}, "default": "debian-installer", "timeout": 0}]}`))
	return prof
}

// checkGenerated fails the test unless pxe-edge generated grub.cfg over proto for a
// Secure Boot machine and the catalogue entry's kernel and initrd were fetched.
func checkGenerated(t *testing.T, out, proto string) {
	t.Helper()
	if !regexp.MustCompile(`images: generated menu.* file=grub/grub.cfg by=` + proto + ` .*secure_boot=true`).MatchString(out) {
		t.Errorf("no grub.cfg generated over %s for a Secure Boot machine:\n%s", proto, tail(out, 3000))
	}
}

// The Secure Boot chain over UEFI HTTP boot (PXE switched off in the firmware, as in
// TestUEFIx64HTTPBoot), the machine marked in the static-lease file ("secureboot": true)
// rather than by --secure-boot: the firmware gets http://server/shimx64.efi, shim fetches grubx64.efi
// from the same place, and GRUB (2.12) reads grub.cfg over HTTP and boots the signed installer.
func TestSecureBootHTTP(t *testing.T) {
	// Bookworm's signed GRUB 2.06 has no http module and stops at its prompt under HTTP
	// boot; scripts/fetch-shim.sh brings trixie's 2.12.
	t.Setenv("NETBOOT_FETCH_SHIM", "1")
	e := newEnv(t, 51)
	prof := sbCatalogue(t, e, "52:54:00:70:51:10")
	fl := e.captureFetches()
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", "--profiles", prof,
		"--static-config", e.staticConfig(`"52:54:00:70:51:10": {"ipaddr": "10.70.51.20", "secureboot": true}`))
	g := e.startGuest("ovmf-secboot-http", sbGuest(t, e.tap(), "52:54:00:70:51:10",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")...)
	grub := g.wait(sbGeneratedMarker, guestTimeout)
	took := g.wait(diFirstScreen, installerTimeout)
	names := fl.files()
	checkSigned(t, names)
	checkGenerated(t, p.Output(), "http")
	if len(names) == 0 || names[0] != "http /"+boot.FileShimX64 {
		t.Errorf("the firmware's first request was not shim over HTTP: %q", names)
	}
	t.Logf("Secure Boot OVMF HTTP boot → shimx64.efi → grubx64.efi → pxe-edge's generated grub.cfg in %v → installer's first screen in %v; requests %q",
		grub.Round(100e6), took.Round(100e6), names)
}

// Negative control, and the same machine with the setting off: with --secure-boot but
// "secureboot": false in its static-lease binding the machine gets ipxe.efi as every UEFI
// client does today, and the firmware, with Secure Boot
// enforced, refuses the unsigned binary. This proves the two tests above ran with Secure
// Boot on.
func TestSecureBootOffGetsIPXE(t *testing.T) {
	e := newEnv(t, 52)
	fl := e.captureFetches()
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", "--secure-boot",
		"--static-config", e.staticConfig(`"52:54:00:70:52:10": {"ipaddr": "10.70.52.20", "secureboot": false}`))
	g := e.startGuest("ovmf-secboot-ipxe", sbGuest(t, e.tap(), "52:54:00:70:52:10")...)
	m := g.waitRE(reAccessDenied, guestTimeout)
	t.Logf("Secure Boot OVMF refused ipxe.efi (%q) in %v", m[0], time.Since(g.start).Round(100e6))
	if !strings.Contains(p.Output(), "file=ipxe.efi") {
		t.Errorf("the machine without the Secure Boot setting was not given ipxe.efi:\n%s", tail(p.Output(), 3000))
	}
	if strings.Contains(g.Console(), "iPXE initialising") {
		t.Errorf("iPXE ran under Secure Boot")
	}
	// The capture the Secure Boot tests rely on does see an unsigned fetch.
	names := fl.files()
	if len(names) == 0 || names[0] != "tftp ipxe.efi" {
		t.Errorf("the capture did not see the ipxe.efi fetch: %q", names)
	}
}

// staticConfig writes a PyPXE static-lease file with the given bindings and returns its path.
func (e *env) staticConfig(bindings string) string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "static.json")
	writeFile(e.t, p, []byte(`{"dhcp": {"binding": {`+bindings+`}}}`))
	if err := os.Chmod(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// reAccessDenied is EDK2's refusal of an image that fails Secure Boot verification.
var reAccessDenied = regexp.MustCompile(`failed to load Boot[0-9A-F]+ "UEFI PXEv4[^"]*" from [^\n]*: (Access Denied|Security Violation)`)

// arm64: AAVMF with Microsoft's keys enrolled (AAVMF_VARS.ms.fd; Debian's AAVMF_CODE.ms.fd is
// the same code as AAVMF_CODE.fd) boots shimaa64.efi → grubaa64.efi → grub.cfg over PXE, the
// machine marked Secure Boot by a profile matching its architecture. The negative control is the same signed GRUB with its signature stripped,
// given by a reservation's "rom" to a machine marked not Secure Boot: the firmware refuses it,
// and AAVMF without keys boots it.
func TestSecureBootARM64(t *testing.T) {
	t.Setenv("NETBOOT_FETCH_SHIM", "1")
	e := newEnv(t, 53)
	sbNetboot(t, e)
	stripSignature(t, filepath.Join(e.dir, "grubaa64.efi"), filepath.Join(e.dir, "unsigned-grubaa64.efi"))
	// Secure Boot by a machine profile matching the architecture; the reservation's
	// "secureboot": false beats it for the negative control's machine.
	prof := filepath.Join(e.state, "profiles.json")
	writeFile(t, prof, []byte(`{"profiles": [{"name": "arm-servers", "match": {"arch": ["arm64-efi"]}, "secure_boot": true}]}`))
	fl := e.captureFetches()
	e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", "--profiles", prof,
		"--static-config", e.staticConfig(`"52:54:00:70:53:11": {"ipaddr": "10.70.53.21", "secureboot": false, "rom": "unsigned-grubaa64.efi"}`))
	g := e.startGuest("aavmf-secboot-pxe", aavmfSBGuest(t, e.tap(), "52:54:00:70:53:10")...)
	took := g.wait("pxe-edge: grub.cfg reached", guestTimeout)
	g.kill()
	checkSigned(t, fl.files())
	t.Logf("Secure Boot AAVMF PXE → shimaa64.efi → grubaa64.efi → grub.cfg in %v", took.Round(100e6))
	n := e.startGuest("aavmf-secboot-unsigned", aavmfSBGuest(t, e.tap(), "52:54:00:70:53:11")...)
	m := n.waitRE(regexp.MustCompile(`failed to load Boot[0-9A-F]+ "UEFI PXEv4[^"]*" from [^\n]*: (Access Denied|Security Violation)`), guestTimeout)
	t.Logf("Secure Boot AAVMF refused the unsigned GRUB (%s) in %v", m[1], time.Since(n.start).Round(100e6))
	n.kill()
	// The stripped binary itself is sound: the same machine without Secure Boot (AAVMF's
	// variable store without keys) boots it to grub.cfg.
	o := e.startGuest("aavmf-unsigned", aavmfGuest(t, e.tap(), "52:54:00:70:53:11")...)
	o.wait("pxe-edge: grub.cfg reached", guestTimeout)
	t.Logf("AAVMF without Secure Boot booted the unsigned GRUB to grub.cfg in %v", time.Since(o.start).Round(100e6))
}

// aavmfSBGuest is arm64 UEFI (AAVMF) with Microsoft's keys enrolled and Secure Boot on.
func aavmfSBGuest(t *testing.T, tap, mac string) []string {
	netlab.RequireCommands(t, "qemu-system-aarch64")
	netlab.RequireFiles(t, netlab.AAVMFCode, "/usr/share/AAVMF/AAVMF_VARS.ms.fd")
	vars := padTo(t, "/usr/share/AAVMF/AAVMF_VARS.ms.fd", filepath.Join(t.TempDir(), "vars.fd"), 64<<20)
	return append([]string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-m", "512",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + netlab.AAVMFCode,
		"-drive", "if=pflash,format=raw,file=" + vars,
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"}, nic(tap, mac, "none")...)
}

// stripSignature writes src without its Authenticode signature (the PE certificate table
// emptied and cut off): the same binary, unsigned.
func stripSignature(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pe := int(binary.LittleEndian.Uint32(b[0x3c:]))
	opt := pe + 24
	var dir int
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case 0x20b: // PE32+
		dir = opt + 112 + 4*8
	case 0x10b:
		dir = opt + 96 + 4*8
	default:
		t.Fatalf("%s: not a PE image", src)
	}
	off, size := binary.LittleEndian.Uint32(b[dir:]), binary.LittleEndian.Uint32(b[dir+4:])
	if off == 0 || size == 0 || int(off) > len(b) {
		t.Fatalf("%s: no signature to strip", src)
	}
	out := append([]byte(nil), b[:off]...)
	binary.LittleEndian.PutUint64(out[dir:], 0)
	writeFile(t, dst, out)
}

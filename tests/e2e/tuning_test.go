package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// The Pi/U-Boot/HTTP-boot tuning flags of the real binary, checked in real replies: the
// U-Boot of u-boot-qemu booting under QEMU, and real client DISCOVERs replayed (the Pi 4 and
// Pi 2/3 bootloader DISCOVERs of rpi_test.go, OVMF's and AAVMF's HTTP boot DISCOVERs from
// testdata/*-http.pcap).

// Option 43 as the clients must get it, spelled out byte by byte from the Raspberry Pi
// bootloader documentation's dnsmasq sample (discovery control 3, prompt "PXE" with timeout
// 0, one menu item of type 0) and the PXE specification (BIOS: discovery control 8, boot
// the file in the reply).
var (
	tunOpt43Plain = append(append([]byte{
		0x06, 0x01, 0x03,
		0x0a, 0x04, 0x00, 'P', 'X', 'E',
		0x09, 0x14, 0x00, 0x00, 0x11}, "Raspberry Pi Boot"...), 0xff)
	tunOpt43Spaces = append(append([]byte{
		0x06, 0x01, 0x03,
		0x0a, 0x04, 0x00, 'P', 'X', 'E',
		0x09, 0x17, 0x00, 0x00, 0x14}, "Raspberry Pi Boot   "...), 0xff)
	tunOpt43BIOS = []byte{0x06, 0x01, 0x08, 0xff}
)

// tunClient adds a client namespace on br0 whose eth0 has mac (no address: it only sends
// DISCOVERs).
func (e *env) tunClient(name string, mac [6]byte) *netlab.NS {
	e.t.Helper()
	ns := e.lab.Namespace(name)
	port := "p" + name
	e.lab.Veth(e.srv, port, "", ns, "eth0", "")
	e.srv.AttachToBridge(port, "br0")
	ns.MustRun("ip", "link", "set", "eth0", "address", net.HardwareAddr(mac[:]).String())
	return ns
}

// tunRestart stops the running pxe-edge (if any) and starts it again with flags and a fresh
// state directory, so that no lease of an earlier variant carries over.
func (e *env) tunRestart(flags ...string) *netlab.Proc {
	e.t.Helper()
	if e.pxe != nil {
		if err := e.pxe.Stop(15 * time.Second); err != nil {
			e.t.Fatalf("stop pxe-edge: %v\n%s", err, e.pxe.Output())
		}
	}
	e.state = e.t.TempDir()
	return e.startServer(flags...)
}

// tunLeaseState returns the state the status API gives the lease of mac ("" = no lease).
func (e *env) tunLeaseState(mac [6]byte) string {
	e.t.Helper()
	for _, l := range e.statusLeases() {
		if l.MAC == net.HardwareAddr(mac[:]).String() {
			return l.State
		}
	}
	return ""
}

// TestTunPiMenu replays the Pi 4 bootloader's DISCOVER (option 97 "RPi4", DC:A6:32 MAC) and
// the Pi 2/3 boot ROM's (B8:27:EB MAC, no option 97) against the binary run with each
// --pi-menu value and with --no-pi, and compares option 43 of each OFFER byte for byte:
// auto (the default) gives the Pi 4 the plain text and the Pi 3 the three-space text, plain and
// three-spaces give both Pis that text, and --no-pi answers both as BIOS PXE clients
// (pxelinux.0, the BIOS option 43, no commit at OFFER).
func TestTunPiMenu(t *testing.T) {
	netlab.RequireCommands(t, "curl")
	e := newEnv(t, 20)
	pi3MAC := [6]byte{0xb8, 0x27, 0xeb, 0x20, 0x34, 0x56}
	pi4 := e.tunClient("pi4", piMAC)
	pi3 := e.tunClient("pi3", pi3MAC)
	common := []string{"--dhcp", "--http", "--http-port", "80"}
	variants := []struct {
		name     string
		flags    []string
		pi4, pi3 []byte // option 43 each Pi must get
		pi       bool   // the Pis are recognised
	}{
		{"default (auto)", nil, tunOpt43Plain, tunOpt43Spaces, true},
		{"--pi-menu auto", []string{"--pi-menu", "auto"}, tunOpt43Plain, tunOpt43Spaces, true},
		{"--pi-menu plain", []string{"--pi-menu", "plain"}, tunOpt43Plain, tunOpt43Plain, true},
		{"--pi-menu three-spaces", []string{"--pi-menu", "three-spaces"}, tunOpt43Spaces, tunOpt43Spaces, true},
		{"--no-pi", []string{"--no-pi"}, tunOpt43BIOS, tunOpt43BIOS, false},
	}
	for i, v := range variants {
		p := e.tunRestart(append(common, v.flags...)...)
		clients := []struct {
			name string
			ns   *netlab.NS
			mac  [6]byte
			msg  func(xid uint32) []byte
			o43  []byte
		}{
			{"Pi 4", pi4, piMAC, piDiscover, v.pi4},
			{"Pi 3", pi3, pi3MAC, func(xid uint32) []byte { return bootloaderDiscover(xid, pi3MAC, nil) }, v.pi3},
		}
		for j, c := range clients {
			xid := uint32(0x7e200000 | i<<8 | j)
			r := dhcpExchange(t, c.ns, c.msg(xid), xid)
			where := v.name + ", " + c.name
			if mt := r.opts[53]; len(mt) != 1 || mt[0] != 2 {
				t.Errorf("%s: reply is not an OFFER: option 53 = %v", where, mt)
				continue
			}
			if !bytes.Equal(r.opts[43], c.o43) {
				t.Errorf("%s: option 43\n got % x\nwant % x", where, r.opts[43], c.o43)
			}
			if got := string(r.opts[60]); got != "PXEClient" {
				t.Errorf("%s: option 60 %q, want PXEClient", where, got)
			}
			file, hasFile := r.opts[67]
			state := e.tunLeaseState(c.mac)
			if v.pi {
				// A Pi gets no boot file (it asks for its files by name) and, since it never
				// sends a REQUEST, its lease is committed at OFFER.
				if hasFile {
					t.Errorf("%s: recognised Pi got boot file %q", where, file)
				}
				if state != "bound" {
					t.Errorf("%s: lease %q after the OFFER, want bound (committed at OFFER)", where, state)
				}
				continue
			}
			if string(file) != boot.FilePXELinux {
				t.Errorf("%s: boot file %q, want %s as for any BIOS PXE client", where, file, boot.FilePXELinux)
			}
			if state == "bound" {
				t.Errorf("%s: lease committed at OFFER although Pi recognition is off", where)
			}
		}
		if t.Failed() {
			t.Logf("server log (%s):\n%s", v.name, p.Output())
		}
	}
}

// tunDiscover is a client's first DISCOVER taken from a stored trace.
type tunDiscover struct {
	msg []byte
	xid uint32
	mac [6]byte
}

// tunTraceDiscover returns the first DISCOVER of testdata/<name>.pcap, a real firmware's.
func tunTraceDiscover(t *testing.T, name string) tunDiscover {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".pcap"))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := readPcap(b)
	if err != nil {
		t.Fatalf("%s.pcap: %v", name, err)
	}
	for _, p := range pkts {
		if p.dport != 67 {
			continue
		}
		m, ok := decodeDHCP(p.payload)
		if ok && m.op == 1 && bytes.Equal(m.opts[53], []byte{1}) {
			return tunDiscover{msg: bytes.Clone(p.payload), xid: binary.BigEndian.Uint32(p.payload[4:]), mac: m.chaddr}
		}
	}
	t.Fatalf("%s.pcap holds no DISCOVER", name)
	return tunDiscover{}
}

// TestTunHTTPBootPath replays the DISCOVERs OVMF (x64, arch 16) and AAVMF (arm64, arch 19)
// sent when they HTTP-booted in TestUEFIx64HTTPBoot and TestUEFIARM64HTTPBoot and checks
// option 67 and 60 of the OFFERs: by default each gets the iPXE EFI binary for its
// architecture, with --http-boot-path a path both get that path on our HTTP server, and a
// full URL goes out unchanged.
func TestTunHTTPBootPath(t *testing.T) {
	e := newEnv(t, 21)
	clients := []struct {
		name string
		d    tunDiscover
		def  string // the default file
		ns   *netlab.NS
	}{
		{name: "OVMF", d: tunTraceDiscover(t, "ovmf-http"), def: "ipxe.efi"},
		{name: "AAVMF", d: tunTraceDiscover(t, "aavmf-http"), def: "ipxe-arm64.efi"},
	}
	for i := range clients {
		c := &clients[i]
		c.ns = e.tunClient(fmt.Sprintf("uefi%d", i), c.d.mac)
	}
	base := "http://" + e.ServerIP() + ":8080/"
	const url = "http://198.51.100.7/tun/custom.efi"
	variants := []struct {
		name  string
		flags []string
		want  func(def string) string
	}{
		{"default", nil, func(def string) string { return base + def }},
		{"path", []string{"--http-boot-path", "tun/custom.efi"}, func(string) string { return base + "tun/custom.efi" }},
		{"URL", []string{"--http-boot-path", url}, func(string) string { return url }},
	}
	for _, v := range variants {
		p := e.tunRestart(append([]string{"--dhcp", "--http", "--http-port", "8080"}, v.flags...)...)
		for _, c := range clients {
			r := dhcpExchange(t, c.ns, c.d.msg, c.d.xid)
			where := v.name + ", " + c.name
			if mt := r.opts[53]; len(mt) != 1 || mt[0] != 2 {
				t.Errorf("%s: reply is not an OFFER: option 53 = %v", where, mt)
				continue
			}
			if got, want := string(r.opts[67]), v.want(c.def); got != want {
				t.Errorf("%s: option 67 %q, want %q", where, got, want)
			}
			if got := string(r.opts[60]); got != "HTTPClient" {
				t.Errorf("%s: option 60 %q, want HTTPClient", where, got)
			}
		}
		if t.Failed() {
			t.Logf("server log (%s):\n%s", v.name, p.Output())
		}
	}
}

// TestTunUBootFlags boots u-boot-qemu's arm64 U-Boot against the binary run with
// --uboot-file and --uboot-config-file (one QEMU boot for both). U-Boot's `dhcp` autoloads
// the --uboot-file file (checked by U-Boot's byte count and the server's TFTP log), and its
// `pxe get` then searches pxelinux.cfg/ beside that file, in its directory. Both the OFFER
// and the ACK U-Boot got carry option 209 = the --uboot-config-file value (decoded from the
// tshark trace). Debian bookworm's U-Boot 2023.01 predates CONFIG_BOOTP_PXE_DHCP_OPTION
// (U-Boot 2023.07), so it does not act on option 209 itself; a newer U-Boot would fetch
// that file in `pxe get`.
func TestTunUBootFlags(t *testing.T) {
	e := newEnv(t, 22)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	marker := "tun-" + hex.EncodeToString(rnd[:])
	const ubootFile, configFile = "tun/uboot-tun.bin", "pxelinux.cfg/tunboard"
	bin := []byte(strings.Repeat(marker+" uboot-file\n", 200))
	writeFile(t, filepath.Join(e.dir, ubootFile), bin)
	// The configuration U-Boot 2023.01 reads beside the boot file, and the one option 209
	// names; their sizes differ from each other and from pxelinux.cfg/default.
	besideCfg := []byte("# " + marker + " beside the U-Boot file\nDEFAULT local\nLABEL local\n\tLOCALBOOT 0\n")
	writeFile(t, filepath.Join(e.dir, "tun", "pxelinux.cfg", "default"), besideCfg)
	writeFile(t, filepath.Join(e.dir, configFile), []byte("# "+marker+" option 209\nDEFAULT "+marker+"\nLABEL "+marker+"\n\tLOCALBOOT 0\n"))

	p := e.startServer("--dhcp", "--uboot-file", ubootFile, "--uboot-config-file", configFile)
	c := e.capture(traceSpec{name: "tun-uboot", count: 12, vendorClass: "U-Boot.armv8", arch: 22,
		file: ubootFile, rrq: ubootFile, cfg: boot.Config{UBoot: boot.UBootConfig{File: ubootFile, ConfigFile: configFile}}})
	g := e.startGuest("u-boot", ubootGuest(t, e.tap(), "52:54:00:70:22:10")...)
	g.wait("Hit any key to stop autoboot", guestTimeout)
	g.typeLine("")
	g.wait("=> ", 20*time.Second)

	n := strings.Count(g.Console(), "=> ")
	g.typeLine("dhcp")
	took := g.wait("DHCP client bound to address "+e.net+".", guestTimeout)
	t.Logf("U-Boot dhcp bound in %v", took.Round(100e6))
	g.waitRE(regexp.MustCompile(`Filename '`+regexp.QuoteMeta(ubootFile)+`'\.[\s\S]*Bytes transferred = `+fmt.Sprint(len(bin))+`\b`), 60*time.Second)
	g.waitCount("=> ", n+1, 20*time.Second)
	trace, _ := c.stop() // checked there; never stored: this trace has no golden file
	if !regexp.MustCompile(`file=` + regexp.QuoteMeta(ubootFile) + ` bytes=` + fmt.Sprint(len(bin)) + `\b`).MatchString(p.Output()) {
		t.Errorf("the server log shows no complete TFTP transfer of %s", ubootFile)
	}

	// Option 209 in the replies U-Boot got.
	pkts, err := readPcap(trace)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[byte]bool{}
	for _, pk := range pkts {
		m, ok := decodeDHCP(pk.payload)
		if !ok || pk.sport != 67 || m.op != 2 || len(m.opts[53]) != 1 {
			continue
		}
		mt := m.opts[53][0]
		seen[mt] = true
		if got := string(m.opts[209]); got != configFile {
			t.Errorf("DHCP message type %d to U-Boot: option 209 %q, want %q", mt, got, configFile)
		}
		if m.file != ubootFile {
			t.Errorf("DHCP message type %d to U-Boot: file field %q, want %q", mt, m.file, ubootFile)
		}
	}
	if !seen[2] || !seen[5] {
		t.Errorf("the trace lacks the OFFER or the ACK to U-Boot (message types seen: %v)", seen)
	}
	// U-Boot 2023.01 names every option it received but does not handle: 209 in the OFFER
	// and in the ACK.
	if n := strings.Count(g.Console(), "Unhandled DHCP Option in OFFER/ACK: 209"); n != 2 {
		t.Errorf("U-Boot reported option 209 received %d times, want 2 (OFFER and ACK); if this U-Boot "+
			"now acts on option 209 (CONFIG_BOOTP_PXE_DHCP_OPTION), check that `pxe get` fetches %s", n, configFile)
	}

	n = strings.Count(g.Console(), "=> ")
	g.typeLine("pxe get")
	g.waitRE(regexp.MustCompile(`Filename 'tun/pxelinux.cfg/default'\.[\s\S]*Bytes transferred = `+fmt.Sprint(len(besideCfg))+`\b[\s\S]*Config file '[^']*' found`), 60*time.Second)
	g.waitCount("=> ", n+1, 20*time.Second)
	if strings.Contains(g.Console(), "Filename 'pxelinux.cfg/") {
		t.Errorf("U-Boot searched the netboot root's pxelinux.cfg/ although its boot file is in tun/")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", p.Output())
	}
}

// TestTunOVMFHTTPBootPath HTTP-boots OVMF (PXE switched off in the firmware, as in
// TestUEFIx64HTTPBoot) from the binary run with --http-boot-path tun/custom.efi, a copy of
// ipxe.efi under another name: the firmware downloads and runs that file, not the default
// ipxe.efi, and the iPXE it starts reaches boot.ipxe.
func TestTunOVMFHTTPBootPath(t *testing.T) {
	e := newEnv(t, 23)
	efi, err := os.ReadFile(filepath.Join(e.dir, boot.FileIPXEx64))
	if err != nil {
		netlab.Missing(t, "no %s in the netboot directory: %v", boot.FileIPXEx64, err)
	}
	writeFile(t, filepath.Join(e.dir, "tun", "custom.efi"), efi)
	p := e.startServer("--dhcp", "--ipxe", "--http", "--http-port", "80", "--http-boot-path", "tun/custom.efi")
	g := e.startGuest("ovmf-http", ovmfGuest(t, e.tap(), "52:54:00:70:23:10",
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")...)
	took := g.wait("pxe-edge: boot.ipxe reached", guestTimeout)
	t.Logf("OVMF HTTP boot with --http-boot-path → boot.ipxe in %v", took.Round(100e6))
	if c := g.Console(); !strings.Contains(c, `starting Boot0002 "UEFI HTTPv4`) || strings.Contains(c, "Start PXE over IPv4") {
		t.Errorf("the firmware did not boot through its HTTPv4 boot option alone")
	}
	log := p.Output()
	if !regexp.MustCompile(`path=/tun/custom\.efi status=200\b`).MatchString(log) {
		t.Errorf("the server log shows no successful download of /tun/custom.efi")
	}
	if strings.Contains(log, "path=/"+boot.FileIPXEx64+" ") {
		t.Errorf("the firmware was given /%s as well", boot.FileIPXEx64)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", log)
	}
}

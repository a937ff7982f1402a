package boot

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// Option 60 values captured from real firmware under QEMU (field guide §10) and from the
// Raspberry Pi bootloader docs.
const (
	vcIPXEBIOS  = "PXEClient:Arch:00000:UNDI:002001" // QEMU iPXE ROM, undionly.kpxe, Pi bootloaders
	vcOVMFPXE   = "PXEClient:Arch:00007:UNDI:003000" // OVMF PXE
	vcOVMFHTTP  = "HTTPClient:Arch:00016:UNDI:003000"
	vcAA64PXE   = "PXEClient:Arch:00011:UNDI:003000" // qemu-efi-aarch64 PXE
	vcAA64HTTP  = "HTTPClient:Arch:00019:UNDI:003000"
	vcIA32PXE   = "PXEClient:Arch:00006:UNDI:003000"
	vcUBootStr  = "U-Boot.armv8"
	vcUdhcpc    = "udhcp 1.35.0"
	vcIPXEEFI   = "PXEClient:Arch:00007:UNDI:003010" // iPXE x86_64 EFI
	vcIPXEARM64 = "PXEClient:Arch:00011:UNDI:003010"
)

var (
	server   = netip.MustParseAddr("10.70.0.1")
	macPC    = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macPi4   = [6]byte{0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2}
	macPi3   = [6]byte{0xb8, 0x27, 0xeb, 0x11, 0x22, 0x33}
	macPi5   = [6]byte{0x2c, 0xcf, 0x67, 0x01, 0x02, 0x03}
	uuid97   = append([]byte{0}, bytes.Repeat([]byte{0xab}, 16)...)
	opt43PXE = []byte{6, 1, 8, 255}
)

// piOpt97 builds a Pi 4/5 option 97: type 0, fourcc, revision, MAC low bytes, serial,
// little-endian as the bootloader writes them.
func piOpt97(model string, rev uint32, mac [6]byte, serial uint32) []byte {
	b := []byte{0}
	b = append(b, model...)
	b = append(b, byte(rev), byte(rev>>8), byte(rev>>16), byte(rev>>24))
	b = append(b, mac[2:6]...)
	return append(b, byte(serial), byte(serial>>8), byte(serial>>16), byte(serial>>24))
}

// baseConfig is pxe-edge with --ipxe --http on port 8080, TFTP on.
func baseConfig() Config {
	return Config{ServerIP: server, TFTP: true, HTTP: true, HTTPPort: 8080, IPXE: true}
}

// want lists the decision fields a case checks; Opt43 and Opt97 are compared exactly
// (nil = must be absent).
type want struct {
	boot          bool
	kind          string
	file          string
	siaddr        bool
	opt66         string
	opt60         string
	opt43         []byte
	opt97         bool
	opt209        string
	commit        bool
	use4011       bool
	isPi          bool
	platform      string
	buildArch     string
	piTFTPPrefix  string
	reasonContain string
}

func check(t *testing.T, f Facts, c Config, w want) {
	t.Helper()
	d := Decide(f, c)
	if d.Boot != w.boot {
		t.Fatalf("Boot = %v (reason %q), want %v; decision %+v", d.Boot, d.Reason, w.boot, d)
	}
	if d.Kind != w.kind {
		t.Errorf("Kind = %q, want %q", d.Kind, w.kind)
	}
	if w.reasonContain != "" && !strings.Contains(d.Reason, w.reasonContain) {
		t.Errorf("Reason = %q, want it to contain %q", d.Reason, w.reasonContain)
	}
	if d.File != w.file {
		t.Errorf("File = %q, want %q", d.File, w.file)
	}
	if got := d.SIAddr == server; got != w.siaddr {
		t.Errorf("SIAddr = %v, want set: %v", d.SIAddr, w.siaddr)
	}
	if d.Opt66 != w.opt66 {
		t.Errorf("Opt66 = %q, want %q", d.Opt66, w.opt66)
	}
	if d.Opt60 != w.opt60 {
		t.Errorf("Opt60 = %q, want %q", d.Opt60, w.opt60)
	}
	if !bytes.Equal(d.Opt43, w.opt43) || (d.Opt43 == nil) != (w.opt43 == nil) {
		t.Errorf("Opt43 = % x, want % x", d.Opt43, w.opt43)
	}
	if w.opt97 {
		if !bytes.Equal(d.Opt97, f.Opt97) || d.Opt97 == nil {
			t.Errorf("Opt97 = % x, want the echo % x", d.Opt97, f.Opt97)
		}
	} else if d.Opt97 != nil {
		t.Errorf("Opt97 = % x, want none", d.Opt97)
	}
	if d.Opt209 != w.opt209 {
		t.Errorf("Opt209 = %q, want %q", d.Opt209, w.opt209)
	}
	if d.CommitAtOffer != w.commit {
		t.Errorf("CommitAtOffer = %v, want %v", d.CommitAtOffer, w.commit)
	}
	if d.Use4011 != w.use4011 {
		t.Errorf("Use4011 = %v, want %v", d.Use4011, w.use4011)
	}
	if d.IsPi != w.isPi {
		t.Errorf("IsPi = %v, want %v", d.IsPi, w.isPi)
	}
	if w.platform != "" && d.Platform != w.platform {
		t.Errorf("Platform = %q, want %q", d.Platform, w.platform)
	}
	if w.buildArch != "" && d.BuildArch != w.buildArch {
		t.Errorf("BuildArch = %q, want %q", d.BuildArch, w.buildArch)
	}
	if d.PiTFTPPrefix != w.piTFTPPrefix {
		t.Errorf("PiTFTPPrefix = %q, want %q", d.PiTFTPPrefix, w.piTFTPPrefix)
	}
	checkInvariants(t, f, c, d)
}

// TestDecideClients covers every client kind of the field guide in full and proxy mode,
// with the default configuration (--ipxe --http, TFTP on).
func TestDecideClients(t *testing.T) {
	ipxeURL := "http://10.70.0.1:8080/boot.ipxe"
	piSerial := uint32(0x3c8da5af)
	tests := []struct {
		name string
		f    Facts
		w    want
	}{
		// x86 BIOS PXE firmware (a non-iPXE ROM, e.g. Intel PXE): iPXE first.
		{"bios full", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: KindBIOS, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient",
				opt43: opt43PXE, opt97: true, platform: "pcbios", buildArch: "i386"}},
		{"bios proxy 67", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC},
			want{boot: true, kind: KindBIOS, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient",
				opt43: opt43PXE}},
		{"bios proxy 4011 has no option 43", Facts{Msg: Request, Mode: Proxy, Port: 4011, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC},
			want{boot: true, kind: KindBIOS, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient"}},
		{"bios without option 93 (arch from vendor class)", Facts{Msg: Discover, VendorClass: vcIPXEBIOS, MAC: macPC},
			want{boot: true, kind: KindBIOS, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43PXE}},
		{"pxe 2.0 rom without any arch", Facts{Msg: Discover, VendorClass: "PXEClient", MAC: macPC},
			want{boot: true, kind: KindBIOS, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43PXE}},

		// QEMU's legacy BIOS ROM is iPXE: its first DHCP carries 77 "iPXE" and 175.
		{"qemu ipxe rom", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("iPXE"), Has175: true, MAC: macPC},
			want{boot: true, kind: KindIPXE, file: ipxeURL, siaddr: true, opt60: "PXEClient", platform: "pcbios", buildArch: "i386"}},
		{"undionly.kpxe second dhcp proxy", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("iPXE"), Has175: true, MAC: macPC},
			want{boot: true, kind: KindIPXE, file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"ipxe 77 only", Facts{Msg: Request, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("iPXE"), MAC: macPC},
			want{boot: true, kind: KindIPXE, file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"ipxe 175 only", Facts{Msg: Request, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, Has175: true, MAC: macPC},
			want{boot: true, kind: KindIPXE, file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"ipxe 77 rfc3004", Facts{Msg: Request, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("\x04iPXE"), MAC: macPC},
			want{boot: true, kind: KindIPXE, file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"ipxe efi x64", Facts{Msg: Discover, Arch: []uint16{7}, VendorClass: vcIPXEEFI, UserClass: []byte("iPXE"), Has175: true, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: "ipxe-uefi-x64", file: ipxeURL, siaddr: true, opt60: "PXEClient", opt97: true, platform: "efi", buildArch: "x86_64"}},
		{"ipxe efi x64 proxy is not sent to 4011", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{7}, VendorClass: vcIPXEEFI, UserClass: []byte("iPXE"), Has175: true, MAC: macPC},
			want{boot: true, kind: "ipxe-uefi-x64", file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"ipxe efi arm64", Facts{Msg: Discover, Arch: []uint16{11}, VendorClass: vcIPXEARM64, UserClass: []byte("iPXE"), Has175: true, MAC: macPC},
			want{boot: true, kind: "ipxe-uefi-arm64", file: ipxeURL, siaddr: true, opt60: "PXEClient", platform: "efi", buildArch: "arm64"}},

		// x86-64 UEFI PXE (OVMF).
		{"ovmf pxe full: no option 60, so EDK2 boots the file without asking 4011", Facts{Msg: Discover, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: KindUEFIX64, file: "ipxe.efi", siaddr: true, opt66: "10.70.0.1", opt97: true, platform: "efi", buildArch: "x86_64"}},
		{"ovmf pxe proxy 67: no 43, go to 4011", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: KindUEFIX64, file: "ipxe.efi", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt97: true, use4011: true}},
		{"ovmf pxe proxy 4011 ack", Facts{Msg: Request, Mode: Proxy, Port: 4011, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: KindUEFIX64, file: "ipxe.efi", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt97: true}},
		{"x64 uefi arch 9 is 7", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{9}, VendorClass: "PXEClient:Arch:00009:UNDI:003000", MAC: macPC},
			want{boot: true, kind: KindUEFIX64, file: "ipxe.efi", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", use4011: true}},
		{"ia32 uefi", Facts{Msg: Discover, Arch: []uint16{6}, VendorClass: vcIA32PXE, MAC: macPC},
			want{boot: true, kind: KindUEFIIA32, file: "ipxe-i386.efi", siaddr: true, opt66: "10.70.0.1", buildArch: "i386"}},

		// arm64 UEFI PXE (qemu-efi-aarch64).
		{"arm64 uefi pxe full", Facts{Msg: Discover, Arch: []uint16{11}, VendorClass: vcAA64PXE, MAC: macPC},
			want{boot: true, kind: KindUEFIARM64, file: "ipxe-arm64.efi", siaddr: true, opt66: "10.70.0.1", buildArch: "arm64"}},
		{"arm64 uefi pxe proxy", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{11}, VendorClass: vcAA64PXE, MAC: macPC},
			want{boot: true, kind: KindUEFIARM64, file: "ipxe-arm64.efi", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", use4011: true}},
		{"arm32 uefi", Facts{Msg: Discover, Arch: []uint16{10}, VendorClass: "PXEClient:Arch:00010:UNDI:003000", MAC: macPC},
			want{boot: true, kind: KindUEFIARM32, file: "ipxe-arm32.efi", siaddr: true, opt66: "10.70.0.1"}},
		{"riscv64 uefi", Facts{Msg: Discover, Arch: []uint16{27}, VendorClass: "PXEClient:Arch:00027:UNDI:003000", MAC: macPC},
			want{boot: true, kind: KindUEFIRV64, file: "ipxe-riscv64.efi", siaddr: true, opt66: "10.70.0.1", buildArch: "riscv64"}},

		// UEFI HTTP boot.
		{"ovmf http boot full", Facts{Msg: Discover, Arch: []uint16{16}, VendorClass: vcOVMFHTTP, MAC: macPC, Opt97: uuid97},
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1:8080/ipxe.efi", siaddr: true, opt60: "HTTPClient", opt97: true, platform: "efi", buildArch: "x86_64"}},
		{"ovmf http boot proxy", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{16}, VendorClass: vcOVMFHTTP, MAC: macPC},
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1:8080/ipxe.efi", siaddr: true, opt60: "HTTPClient"}},
		{"arm64 http boot", Facts{Msg: Discover, Arch: []uint16{19}, VendorClass: vcAA64HTTP, MAC: macPC},
			want{boot: true, kind: KindUEFIARM64HTTP, file: "http://10.70.0.1:8080/ipxe-arm64.efi", siaddr: true, opt60: "HTTPClient", buildArch: "arm64"}},
		{"http client arch from vendor class", Facts{Msg: Discover, VendorClass: vcAA64HTTP, MAC: macPC},
			want{boot: true, kind: KindUEFIARM64HTTP, file: "http://10.70.0.1:8080/ipxe-arm64.efi", siaddr: true, opt60: "HTTPClient"}},
		{"ia32 http boot", Facts{Msg: Discover, Arch: []uint16{15}, VendorClass: "HTTPClient:Arch:00015:UNDI:003000", MAC: macPC},
			want{boot: true, kind: KindUEFIIA32HTTP, file: "http://10.70.0.1:8080/ipxe-i386.efi", siaddr: true, opt60: "HTTPClient"}},

		// Raspberry Pi bootloaders: arch 0, PXEClient, recognised by 97 or MAC.
		{"pi4 by option 97", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi4, Opt97: piOpt97("RPi4", 0x00c03111, macPi4, piSerial)},
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true,
				platform: "rpi", piTFTPPrefix: "3c8da5af"}},
		{"pi4 option 97 with a non-Pi MAC", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC, Opt97: piOpt97("RPi4", 0x00c03111, macPC, piSerial)},
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true, piTFTPPrefix: "3c8da5af"}},
		{"pi5 by option 97", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi5, Opt97: piOpt97("RPi5", 0x00d04170, macPi5, 0x12345678)},
			want{boot: true, kind: KindRPi5, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true, piTFTPPrefix: "12345678"}},
		{"pi4 by MAC only (old option 97: serial x4)", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi4, Opt97: append([]byte{0}, bytes.Repeat([]byte{0xaf, 0xa5, 0x8d, 0x3c}, 4)...)},
			want{boot: true, kind: KindRPi, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true}},
		{"pi3 rom: three-space menu, commit at offer", Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi3},
			want{boot: true, kind: KindRPi3, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43PiSpaces, commit: true, isPi: true, buildArch: "arm32"}},
		{"pi4 proxy: answered on 67, no commit", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi4, Opt97: piOpt97("RPi4", 0x00c03111, macPi4, piSerial)},
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, isPi: true, piTFTPPrefix: "3c8da5af"}},
		{"rpiboot arch 41", Facts{Msg: Discover, Arch: []uint16{41}, VendorClass: "PXEClient:Arch:00041:UNDI:002001", MAC: macPi4},
			want{boot: true, kind: KindRPi, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, commit: true, isPi: true}},
		{"pi running UEFI firmware is arm64 UEFI", Facts{Msg: Discover, Arch: []uint16{11}, VendorClass: vcAA64PXE, MAC: macPi4},
			want{boot: true, kind: KindUEFIARM64, file: "ipxe-arm64.efi", siaddr: true, opt66: "10.70.0.1"}},
		{"pi running iPXE is iPXE", Facts{Msg: Discover, Arch: []uint16{11}, VendorClass: vcIPXEARM64, UserClass: []byte("iPXE"), MAC: macPi4},
			want{boot: true, kind: "ipxe-uefi-arm64", file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
		{"pi running linux dhcpcd is a plain client", Facts{Msg: Discover, VendorClass: "dhcpcd-9.4.1:Linux-6.1.0:aarch64:BCM2835", MAC: macPi4},
			want{boot: true, kind: KindDHCP, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1"}},

		// U-Boot: full DHCP, siaddr always.
		{"u-boot arm64", Facts{Msg: Discover, Arch: []uint16{22}, VendorClass: vcUBootStr, MAC: macPC},
			want{boot: true, kind: KindUBootARM64, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1", platform: "u-boot", buildArch: "arm64"}},
		{"u-boot arm32", Facts{Msg: Request, Arch: []uint16{21}, VendorClass: "U-Boot.armv7", MAC: macPC},
			want{boot: true, kind: KindUBootARM32, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1", buildArch: "arm32"}},
		{"u-boot without option 93", Facts{Msg: Discover, VendorClass: vcUBootStr, MAC: macPC},
			want{boot: true, kind: KindUBoot, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1"}},
		{"u-boot on a Pi is U-Boot", Facts{Msg: Discover, Arch: []uint16{22}, VendorClass: vcUBootStr, MAC: macPi4},
			want{boot: true, kind: KindUBootARM64, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1"}},
		{"u-boot proxy: not answered", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{22}, VendorClass: vcUBootStr, MAC: macPC},
			want{kind: KindUBootARM64, reasonContain: "proxy"}},
		// U-Boot distro boot's EFI step pretends to be arm64 UEFI PXE.
		{"u-boot distro boot efi step", Facts{Msg: Discover, Arch: []uint16{11}, VendorClass: "PXEClient:Arch:00011:UNDI:003000", MAC: macPC},
			want{boot: true, kind: KindUEFIARM64, file: "ipxe-arm64.efi", siaddr: true, opt66: "10.70.0.1"}},

		// Plain DHCP clients.
		{"dhclient full", Facts{Msg: Discover, MAC: macPC},
			want{boot: true, kind: KindDHCP, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1"}},
		{"udhcpc full", Facts{Msg: Discover, VendorClass: vcUdhcpc, MAC: macPC},
			want{boot: true, kind: KindDHCP, file: "undionly.kpxe", siaddr: true, opt66: "10.70.0.1"}},
		{"dhclient proxy: not answered", Facts{Msg: Discover, Mode: Proxy, MAC: macPC},
			want{kind: KindDHCP, reasonContain: "proxy"}},
		{"udhcpc proxy: not answered", Facts{Msg: Inform, Mode: Proxy, VendorClass: vcUdhcpc, MAC: macPC},
			want{kind: KindDHCP, reasonContain: "proxy"}},
		{"pi MAC without PXE class in proxy: not answered", Facts{Msg: Discover, Mode: Proxy, MAC: macPi4},
			want{kind: KindDHCP, reasonContain: "proxy"}},

		// Architectures the policy has no file for.
		{"unknown arch", Facts{Msg: Discover, Arch: []uint16{2}, VendorClass: "PXEClient:Arch:00002:UNDI:003000", MAC: macPC},
			want{kind: "unknown-arch-2", reasonContain: "architecture 2"}},
		{"unknown arch ipxe still gets the script", Facts{Msg: Discover, Arch: []uint16{2}, VendorClass: "PXEClient:Arch:00002:UNDI:003000", UserClass: []byte("iPXE"), MAC: macPC},
			want{boot: true, kind: "ipxe-arch-2", file: ipxeURL, siaddr: true, opt60: "PXEClient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.f, baseConfig(), tt.w) })
	}
}

// TestDecideConfig covers the settings: --ipxe/--http/--tftp off, NETBOOT_FILE, per-arch
// and per-MAC overrides, HTTP boot path, Pi and U-Boot settings.
func TestDecideConfig(t *testing.T) {
	bios := Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC}
	ipxeBIOS := Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("iPXE"), Has175: true, MAC: macPC}
	ipxeEFI := Facts{Msg: Discover, Arch: []uint16{7}, VendorClass: vcIPXEEFI, UserClass: []byte("iPXE"), Has175: true, MAC: macPC}
	ovmf := Facts{Msg: Discover, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC}
	httpx64 := Facts{Msg: Discover, Arch: []uint16{16}, VendorClass: vcOVMFHTTP, MAC: macPC}
	uboot := Facts{Msg: Discover, Arch: []uint16{22}, VendorClass: vcUBootStr, MAC: macPC}
	pi4 := Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi4, Opt97: piOpt97("RPi4", 0x00c03111, macPi4, 0x3c8da5af)}
	pi3 := Facts{Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi3}

	type tc struct {
		name string
		f    Facts
		mod  func(*Config)
		w    want
	}
	pxe := func(kind, file string) want {
		return want{boot: true, kind: kind, file: file, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient"}
	}
	biosW := func(file string) want { w := pxe(KindBIOS, file); w.opt43 = opt43PXE; return w }
	// UEFI in full mode: no option 60 (see Decide).
	uefiW := func(file string) want { w := pxe(KindUEFIX64, file); w.opt60 = ""; return w }
	ipxeW := func(kind, file string) want {
		return want{boot: true, kind: kind, file: file, siaddr: true, opt60: "PXEClient"}
	}
	tests := []tc{
		// PyPXE without --ipxe: pxelinux.0 (the auto netboot file) for BIOS and for iPXE ROMs.
		{"no ipxe: bios gets pxelinux.0", bios, func(c *Config) { c.IPXE = false }, biosW("pxelinux.0")},
		{"no ipxe: ipxe rom gets pxelinux.0 too", ipxeBIOS, func(c *Config) { c.IPXE = false },
			want{boot: true, kind: KindIPXE, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient"}},
		{"no ipxe: uefi still gets ipxe.efi", ovmf, func(c *Config) { c.IPXE = false }, uefiW("ipxe.efi")},
		{"no ipxe: ipxe efi gets the script, never ipxe.efi again", ipxeEFI, func(c *Config) { c.IPXE = false },
			ipxeW("ipxe-uefi-x64", "http://10.70.0.1:8080/boot.ipxe")},
		{"no ipxe: explicit netboot file for bios", bios, func(c *Config) { c.IPXE = false; c.NetbootFile = "lpxelinux.0" }, biosW("lpxelinux.0")},
		{"no ipxe: netboot file that is an iPXE binary is not given to iPXE", ipxeBIOS, func(c *Config) { c.IPXE = false; c.NetbootFile = "undionly.kpxe" },
			ipxeW(KindIPXE, "http://10.70.0.1:8080/boot.ipxe")},

		// iPXE over TFTP only.
		{"no http: ipxe gets tftp:// script", ipxeBIOS, func(c *Config) { c.HTTP = false }, ipxeW(KindIPXE, "tftp://10.70.0.1/boot.ipxe")},
		{"no http: http boot client gets nothing", httpx64, func(c *Config) { c.HTTP = false },
			want{kind: KindUEFIX64HTTP, reasonContain: "HTTP is off"}},
		{"http port 80 is left out", ipxeBIOS, func(c *Config) { c.HTTPPort = 80 }, ipxeW(KindIPXE, "http://10.70.0.1/boot.ipxe")},
		{"http port 0 means 80", httpx64, func(c *Config) { c.HTTPPort = 0 },
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1/ipxe.efi", siaddr: true, opt60: "HTTPClient"}},
		{"http host differs from the tftp server", ipxeBIOS, func(c *Config) { c.HTTPHost = netip.MustParseAddr("10.70.0.9") },
			ipxeW(KindIPXE, "http://10.70.0.9:8080/boot.ipxe")},

		// TFTP off.
		{"no tftp: bios gets nothing", bios, func(c *Config) { c.TFTP = false }, want{kind: KindBIOS, reasonContain: "TFTP is off"}},
		{"no tftp: ipxe still gets the http script", ipxeBIOS, func(c *Config) { c.TFTP = false }, ipxeW(KindIPXE, "http://10.70.0.1:8080/boot.ipxe")},
		{"no tftp no http: ipxe gets nothing", ipxeBIOS, func(c *Config) { c.TFTP = false; c.HTTP = false }, want{kind: KindIPXE, reasonContain: "neither"}},
		{"no tftp: pi gets nothing", pi4, func(c *Config) { c.TFTP = false }, want{kind: KindRPi4, isPi: true, reasonContain: "TFTP is off"}},
		{"no tftp: u-boot gets nothing", uboot, func(c *Config) { c.TFTP = false }, want{kind: KindUBootARM64, reasonContain: "TFTP is off"}},
		{"no tftp: a URL override still boots bios", bios, func(c *Config) { c.TFTP = false; c.ArchFiles = map[uint16]string{0: "http://10.70.0.1/x.kpxe"} },
			want{boot: true, kind: KindBIOS, file: "http://10.70.0.1/x.kpxe", siaddr: true, opt60: "PXEClient", opt43: opt43PXE}},

		// NETBOOT_FILE with iPXE: the script name.
		{"netboot file is the ipxe script", ipxeBIOS, func(c *Config) { c.NetbootFile = "menu.ipxe" }, ipxeW(KindIPXE, "http://10.70.0.1:8080/menu.ipxe")},
		{"netboot file boot.http.ipxe (PyPXE auto name) set explicitly", ipxeBIOS, func(c *Config) { c.NetbootFile = "boot.http.ipxe"; c.HTTP = false },
			ipxeW(KindIPXE, "tftp://10.70.0.1/boot.http.ipxe")},
		{"netboot file URL is used unchanged", ipxeBIOS, func(c *Config) { c.NetbootFile = "http://10.0.0.5/x.ipxe" }, ipxeW(KindIPXE, "http://10.0.0.5/x.ipxe")},
		{"netboot file naming an iPXE binary is not iPXE's script (found by FuzzDecide)", ipxeBIOS, func(c *Config) { c.NetbootFile = "undionly.kpxe" },
			ipxeW(KindIPXE, "http://10.70.0.1:8080/boot.ipxe")},
		{"netboot file does not change the bios iPXE binary", bios, func(c *Config) { c.NetbootFile = "menu.ipxe" }, biosW("undionly.kpxe")},

		// Per-architecture overrides.
		{"arch override uefi", ovmf, func(c *Config) { c.ArchFiles = map[uint16]string{7: "snponly.efi"} }, uefiW("snponly.efi")},
		{"arch override bios", bios, func(c *Config) { c.ArchFiles = map[uint16]string{0: "ipxe.pxe"} }, biosW("ipxe.pxe")},
		{"arch override http path", httpx64, func(c *Config) { c.ArchFiles = map[uint16]string{16: "efi/boot.efi"} },
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1:8080/efi/boot.efi", siaddr: true, opt60: "HTTPClient"}},
		{"arch override makes an unknown arch bootable", Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{2}, VendorClass: "PXEClient:Arch:00002:UNDI:003000"},
			func(c *Config) { c.ArchFiles = map[uint16]string{2: "ia64.efi"} },
			want{boot: true, kind: "unknown-arch-2", file: "ia64.efi", siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", use4011: true}},
		{"arch override with an iPXE binary is not given to iPXE", ipxeEFI, func(c *Config) { c.ArchFiles = map[uint16]string{7: "snponly.efi"} },
			ipxeW("ipxe-uefi-x64", "http://10.70.0.1:8080/boot.ipxe")},

		// Per-MAC ROM from the reservation.
		{"rom overrides bios", bios, func(c *Config) { c.ROM = "custom.kpxe" }, biosW("custom.kpxe")},
		{"rom overrides uefi and arch override", ovmf, func(c *Config) { c.ROM = "snponly.efi"; c.ArchFiles = map[uint16]string{7: "x.efi"} }, uefiW("snponly.efi")},
		{"rom iPXE binary is never given to iPXE", ipxeBIOS, func(c *Config) { c.ROM = "undionly.kpxe" }, ipxeW(KindIPXE, "http://10.70.0.1:8080/boot.ipxe")},
		{"rom .ipxe is this MAC's script", ipxeBIOS, func(c *Config) { c.ROM = "hosts/lab1.ipxe" }, ipxeW(KindIPXE, "http://10.70.0.1:8080/hosts/lab1.ipxe")},
		{"rom .ipxe leaves the firmware on iPXE", bios, func(c *Config) { c.ROM = "hosts/lab1.ipxe" }, biosW("undionly.kpxe")},
		{"rom for http boot", httpx64, func(c *Config) { c.ROM = "snponly.efi" },
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1:8080/snponly.efi", siaddr: true, opt60: "HTTPClient"}},
		{"rom for u-boot", uboot, func(c *Config) { c.ROM = "boot.scr.uimg" },
			want{boot: true, kind: KindUBootARM64, file: "boot.scr.uimg", siaddr: true, opt66: "10.70.0.1"}},

		// HTTP boot path.
		{"http boot path", httpx64, func(c *Config) { c.HTTPBootPath = "/efi/shim.efi" },
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.1:8080/efi/shim.efi", siaddr: true, opt60: "HTTPClient"}},
		{"http boot URL", httpx64, func(c *Config) { c.HTTPBootPath = "http://10.70.0.7/img.efi" },
			want{boot: true, kind: KindUEFIX64HTTP, file: "http://10.70.0.7/img.efi", siaddr: true, opt60: "HTTPClient"}},

		// U-Boot settings.
		{"u-boot option 209", uboot, func(c *Config) { c.UBoot.ConfigFile = "pxelinux.cfg/default" },
			want{boot: true, kind: KindUBootARM64, file: "pxelinux.0", siaddr: true, opt66: "10.70.0.1", opt209: "pxelinux.cfg/default"}},
		{"u-boot file", uboot, func(c *Config) { c.UBoot.File = "boot/u.scr" },
			want{boot: true, kind: KindUBootARM64, file: "boot/u.scr", siaddr: true, opt66: "10.70.0.1"}},
		{"u-boot arch override beats u-boot file", uboot, func(c *Config) { c.UBoot.File = "boot/u.scr"; c.ArchFiles = map[uint16]string{22: "arm64/u.scr"} },
			want{boot: true, kind: KindUBootARM64, file: "arm64/u.scr", siaddr: true, opt66: "10.70.0.1"}},

		// Raspberry Pi settings.
		{"pi menu forced plain on a pi3", pi3, func(c *Config) { c.Pi.Menu = PiMenuPlain },
			want{boot: true, kind: KindRPi3, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, commit: true, isPi: true}},
		{"pi menu forced three spaces on a pi4", pi4, func(c *Config) { c.Pi.Menu = PiMenuThreeSpaces },
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43PiSpaces, opt97: true, commit: true, isPi: true, piTFTPPrefix: "3c8da5af"}},
		{"pi prefix mac", pi4, func(c *Config) { c.Pi.TFTPPrefix = "mac" },
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true, piTFTPPrefix: "dc-a6-32-01-36-c2"}},
		{"pi prefix fixed", pi4, func(c *Config) { c.Pi.TFTPPrefix = "pis" },
			want{boot: true, kind: KindRPi4, siaddr: true, opt66: "10.70.0.1", opt60: "PXEClient", opt43: opt43Pi, opt97: true, commit: true, isPi: true, piTFTPPrefix: "pis"}},
		{"pi recognition off: a pi is a bios client", pi3, func(c *Config) { c.Pi.Disabled = true }, biosW("undionly.kpxe")},

		// No server address: nothing to boot from.
		{"no server address", bios, func(c *Config) { c.ServerIP = netip.Addr{} }, want{kind: KindBIOS, reasonContain: "server address"}},
		{"unspecified server address", bios, func(c *Config) { c.ServerIP = netip.IPv4Unspecified() }, want{kind: KindBIOS, reasonContain: "server address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig()
			tt.mod(&c)
			check(t, tt.f, c, tt.w)
		})
	}
}

// TestDecideNoLoop walks the iPXE chain for every platform: whatever the firmware gets,
// the iPXE it starts (same architecture, now with 77 "iPXE" and 175) gets a script, and
// asking again gives the same answer (no stored state, so no loop across restarts).
func TestDecideNoLoop(t *testing.T) {
	for _, ipxeOn := range []bool{true, false} {
		for _, httpOn := range []bool{true, false} {
			for _, arch := range []uint16{0, 6, 7, 9, 10, 11, 25, 27} {
				for _, mode := range []Mode{Full, Proxy} {
					c := baseConfig()
					c.IPXE, c.HTTP = ipxeOn, httpOn
					vc := "PXEClient:Arch:" + pad5(arch) + ":UNDI:003000"
					fw := Decide(Facts{Msg: Discover, Mode: mode, Arch: []uint16{arch}, VendorClass: vc, MAC: macPC}, c)
					if !fw.Boot {
						t.Fatalf("ipxe=%v http=%v arch %d %v: firmware not booted: %s", ipxeOn, httpOn, arch, mode, fw.Reason)
					}
					ip := Facts{Msg: Discover, Mode: mode, Arch: []uint16{arch}, VendorClass: vc, UserClass: []byte("iPXE"), Has175: true, MAC: macPC}
					d1, d2 := Decide(ip, c), Decide(ip, c)
					if !d1.Boot || IsIPXEBinary(d1.File) || d1.File == fw.File && IsIPXEBinary(fw.File) {
						t.Errorf("ipxe=%v http=%v arch %d %v: firmware got %q, iPXE got %q (%s)", ipxeOn, httpOn, arch, mode, fw.File, d1.File, d1.Reason)
					}
					if d1.File != d2.File {
						t.Errorf("not deterministic: %q then %q", d1.File, d2.File)
					}
				}
			}
		}
	}
}

func pad5(n uint16) string {
	s := "0000" + itoa(int(n))
	return s[len(s)-5:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestPiOpt43Golden checks the Raspberry Pi option 43 byte for byte against the Pi docs'
// sample.
func TestPiOpt43Golden(t *testing.T) {
	want := []byte{0x06, 0x01, 0x03, 0x0a, 0x04, 0x00, 'P', 'X', 'E', 0x09, 0x14, 0x00, 0x00, 0x11}
	want = append(want, "Raspberry Pi Boot"...)
	want = append(want, 0xff)
	if !bytes.Equal(opt43Pi, want) {
		t.Errorf("Pi option 43\n got % x\nwant % x", opt43Pi, want)
	}
	spaces := []byte{0x06, 0x01, 0x03, 0x0a, 0x04, 0x00, 'P', 'X', 'E', 0x09, 0x17, 0x00, 0x00, 0x14}
	spaces = append(spaces, "Raspberry Pi Boot   "...)
	spaces = append(spaces, 0xff)
	if !bytes.Equal(opt43PiSpaces, spaces) {
		t.Errorf("Pi option 43 (three spaces)\n got % x\nwant % x", opt43PiSpaces, spaces)
	}
	if !bytes.Equal(opt43BIOS, []byte{6, 1, 8, 255}) {
		t.Errorf("BIOS option 43 = % x", opt43BIOS)
	}
}

func TestDecideDoesNotAllocateMuch(t *testing.T) {
	c := baseConfig()
	f := Facts{Msg: Discover, Mode: Proxy, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC, Opt97: uuid97}
	n := testing.AllocsPerRun(100, func() { _ = Decide(f, c) })
	// The firmware path builds no strings beyond the server's dotted IP.
	if n > 1 {
		t.Errorf("Decide for a UEFI proxy offer allocates %v times, want ≤ 1", n)
	}
}

func BenchmarkDecide(b *testing.B) {
	c := baseConfig()
	cases := map[string]Facts{
		"bios":      {Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPC},
		"uefi-4011": {Msg: Request, Mode: Proxy, Port: 4011, Arch: []uint16{7}, VendorClass: vcOVMFPXE, MAC: macPC, Opt97: uuid97},
		"ipxe":      {Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, UserClass: []byte("iPXE"), Has175: true, MAC: macPC},
		"pi4":       {Msg: Discover, Arch: []uint16{0}, VendorClass: vcIPXEBIOS, MAC: macPi4, Opt97: piOpt97("RPi4", 0x00c03111, macPi4, 1)},
	}
	for name, f := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Decide(f, c)
			}
		})
	}
}

package rawdhcp

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// golden lists the DISCOVERs in testdata/ (captured from real clients by TestCaptureGolden)
// and what the field guide says each must carry.
var golden = []struct {
	file        string
	broadcast   bool
	vendorClass string // exact, or prefix ending in '*'
	arch        int    // -1: no option 93
	ndi         [2]uint8
	userClass   string
	has175      bool
	uuid        bool // option 97 in RFC 4578 form
	maxSize     int  // option 57, 0 = absent
	hostname    string
	fixedMAC    string // QEMU guests get capMAC
	spoofedMAC  bool   // chaddr is not the frame's source (nmap sends de:ad:c0:de:ca:fe)
}{
	{file: "dhclient", arch: -1, hostname: "*"},
	{file: "udhcpc", vendorClass: "udhcp 1.35.0", arch: -1, maxSize: 576},
	{file: "dhcpcd", vendorClass: "dhcpcd-9.4.1:*", arch: -1, maxSize: 1472},
	{file: "nmap", broadcast: true, arch: -1, spoofedMAC: true},
	{file: "qemu-bios-ipxe", vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, ndi: [2]uint8{2, 1},
		userClass: "iPXE", has175: true, uuid: true, maxSize: 1472, fixedMAC: capMAC},
	{file: "qemu-ovmf", broadcast: true, vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: 7, ndi: [2]uint8{3, 0},
		uuid: true, maxSize: 1472, fixedMAC: capMAC},
	// iPXE's EFI build (QEMU's e1000 option ROM) under OVMF: arch 7, UNDI 3.10, iPXE marks.
	{file: "qemu-ovmf-ipxe", vendorClass: "PXEClient:Arch:00007:UNDI:003010", arch: 7, ndi: [2]uint8{3, 10},
		userClass: "iPXE", has175: true, uuid: true, maxSize: 1472, fixedMAC: capMAC},
	// EDK2's own PXE sets the broadcast flag.
	{file: "qemu-aavmf", broadcast: true, vendorClass: "PXEClient:Arch:00011:UNDI:003000", arch: 11, ndi: [2]uint8{3, 0},
		uuid: true, maxSize: 1472, fixedMAC: capMAC},
	{file: "qemu-uboot", vendorClass: "U-Boot.armv8", arch: 22, maxSize: 576}, // U-Boot uses its own MAC (52:52:52:52:52:52), not QEMU's
}

const capMAC = "52:54:00:30:00:01"

func matchPattern(pat string, got []byte) bool {
	if p, ok := strings.CutSuffix(pat, "*"); ok {
		return bytes.HasPrefix(got, []byte(p))
	}
	return string(got) == pat
}

// goldenDHCP returns the frame and DHCP payload of a golden capture.
func goldenDHCP(t testing.TB, name string) (pcapFrame, IPv4UDP, []byte) {
	t.Helper()
	frames, err := readPcap(filepath.Join("testdata", name+".pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 {
		t.Fatalf("%s: no IPv4 frame", name)
	}
	h, payload, err := ParseIPv4UDP(frames[0].ip)
	if err != nil {
		t.Fatalf("%s: real client's IPv4/UDP does not parse (checksums are checked): %v", name, err)
	}
	return frames[0], h, payload
}

func TestGoldenDiscovers(t *testing.T) {
	for _, g := range golden {
		t.Run(g.file, func(t *testing.T) {
			f, h, payload := goldenDHCP(t, g.file)
			if h.Src.Port() != ClientPort || h.Dst.Port() != ServerPort || h.Dst.Addr() != limitedBroadcast {
				t.Errorf("addressing %v → %v", h.Src, h.Dst)
			}
			var m Message
			if err := m.Decode(payload); err != nil {
				t.Fatal(err)
			}
			if typ, ok := m.MessageType(); !ok || typ != Discover || m.Op != BootRequest || m.HType != 1 || m.HLen != 6 {
				t.Errorf("type %v op %d htype %d hlen %d", typ, m.Op, m.HType, m.HLen)
			}
			if MAC(m.CHAddr[:6]) != f.src && !g.spoofedMAC {
				t.Errorf("chaddr %v, Ethernet source %v", m.HardwareAddr(), f.src)
			}
			if g.fixedMAC != "" && m.HardwareAddr().String() != g.fixedMAC {
				t.Errorf("chaddr %v, want %s", m.HardwareAddr(), g.fixedMAC)
			}
			if m.Broadcast() != g.broadcast {
				t.Errorf("broadcast flag %v", m.Broadcast())
			}
			if g.vendorClass == "" && m.Options.Has(OptVendorClass) {
				t.Errorf("unexpected option 60 %q", m.VendorClass())
			} else if g.vendorClass != "" && !matchPattern(g.vendorClass, m.VendorClass()) {
				t.Errorf("option 60 %q, want %q", m.VendorClass(), g.vendorClass)
			}
			arch, ok := m.ClientArch()
			if g.arch < 0 && ok || g.arch >= 0 && (!ok || int(arch) != g.arch) {
				t.Errorf("option 93 %d %v, want %d", arch, ok, g.arch)
			}
			if typ, maj, mnr, ok := m.ClientNDI(); g.ndi != [2]uint8{} && (!ok || typ != 1 || [2]uint8{maj, mnr} != g.ndi) {
				t.Errorf("option 94 %d %d.%d %v, want UNDI %v", typ, maj, mnr, ok, g.ndi)
			}
			if got := string(m.UserClass()); got != g.userClass {
				t.Errorf("option 77 %q, want %q", got, g.userClass)
			}
			if g.userClass == "iPXE" && !m.IsIPXE() {
				t.Error("IsIPXE false")
			}
			if m.Options.Has(OptIPXEEncap) != g.has175 {
				t.Errorf("option 175 present %v", !g.has175)
			}
			if _, ok := m.UUID(); ok != g.uuid {
				t.Errorf("option 97 UUID present %v", ok)
			}
			n, ok := m.MaxMessageSize()
			if g.maxSize == 0 && ok || g.maxSize != 0 && int(n) != g.maxSize {
				t.Errorf("option 57 %d %v, want %d", n, ok, g.maxSize)
			}
			if g.hostname != "" && !matchPattern(g.hostname, m.Hostname()) {
				t.Errorf("option 12 %q", m.Hostname())
			}
			if len(m.AppendParams(nil)) == 0 {
				t.Error("no parameter request list")
			}
			// Re-encoding a real client's message gives back its bytes up to the end
			// option (none of them overloads or pads inside the options).
			out, err := m.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, payload[:len(out)]) {
				t.Errorf("re-encoded message differs from the capture")
			}
		})
	}
}

// TestGoldenAgainstTshark cross-checks the decoder with Wireshark's dissector, an
// independent implementation, on every golden packet.
func TestGoldenAgainstTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	for _, g := range golden {
		t.Run(g.file, func(t *testing.T) {
			out, err := exec.Command(tshark, "-n", "-r", filepath.Join("testdata", g.file+".pcap"), "-c", "1",
				"-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
				"-T", "fields", "-E", "separator=/t", "-E", "aggregator=,",
				"-e", "dhcp.id", "-e", "dhcp.flags", "-e", "dhcp.hw.mac_addr", "-e", "dhcp.option.type",
				"-e", "dhcp.option.vendor_class_id", "-e", "dhcp.option.client_system_architecture",
				"-e", "dhcp.option.request_list_item", "-e", "ip.checksum.status", "-e", "udp.checksum.status").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			fields := strings.Split(strings.TrimRight(string(out), "\n"), "\t")
			if len(fields) != 9 {
				t.Fatalf("tshark fields: %q", out)
			}
			_, _, payload := goldenDHCP(t, g.file)
			var m Message
			if err := m.Decode(payload); err != nil {
				t.Fatal(err)
			}
			if want := "0x" + leftPad(strconv.FormatUint(uint64(m.XID), 16), 8); fields[0] != want {
				t.Errorf("xid: tshark %s, we %s", fields[0], want)
			}
			if want := "0x" + leftPad(strconv.FormatUint(uint64(m.Flags), 16), 4); fields[1] != want {
				t.Errorf("flags: tshark %s, we %s", fields[1], want)
			}
			if mac, _, _ := strings.Cut(fields[2], ","); mac != m.HardwareAddr().String() {
				t.Errorf("chaddr: tshark %s, we %s", fields[2], m.HardwareAddr())
			}
			var theirs, ours []string
			for _, c := range strings.Split(fields[3], ",") {
				if c != "0" && c != "255" && c != "" {
					theirs = append(theirs, c)
				}
			}
			for i := range m.Options.Len() {
				c, _ := m.Options.At(i)
				ours = append(ours, strconv.Itoa(int(c)))
			}
			if !slices.Equal(theirs, ours) {
				t.Errorf("option order: tshark %v, we %v", theirs, ours)
			}
			if fields[4] != string(m.VendorClass()) {
				t.Errorf("option 60: tshark %q, we %q", fields[4], m.VendorClass())
			}
			if a, ok := m.ClientArch(); ok && fields[5] != strconv.Itoa(int(a)) || !ok && fields[5] != "" {
				t.Errorf("option 93: tshark %q, we %d", fields[5], a)
			}
			var prl []string
			for _, c := range m.ParamRequestList() {
				prl = append(prl, strconv.Itoa(int(c)))
			}
			if fields[6] != strings.Join(prl, ",") {
				t.Errorf("option 55: tshark %s, we %s", fields[6], strings.Join(prl, ","))
			}
			// 1 = good; the client's own checksums, which ParseIPv4UDP also accepted.
			if fields[7] != "1" || (fields[8] != "1" && fields[8] != "3") {
				t.Errorf("tshark checksum status ip %s udp %s", fields[7], fields[8])
			}
		})
	}
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

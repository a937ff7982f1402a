package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// A trace is the start of one scenario's conversation on br0, captured with tshark in the
// server namespace: DHCP and the first TFTP packets (IPv4 UDP only, at most count packets).
// The scenario checks the live capture against its traceSpec; with -update the capture is
// kept as testdata/<name>.pcap, and TestGoldenTraces checks the stored ones without root or
// QEMU, including that pkg/boot still decides what the server sent.

// traceSpec says what one client kind's trace must show.
type traceSpec struct {
	name  string // testdata/<name>.pcap
	count int    // packets captured
	net   string // "10.70.N" of the scenario
	// The client's first DISCOVER.
	vendorClass string // option 60 prefix
	arch        int    // option 93 first entry; -1 = none sent
	ipxe        bool   // user class "iPXE" / option 175
	// The server's answer: the first reply from <net>.1 on port via carrying a boot file (for
	// the Pi, which gets none, the OFFER), to the first request sent to that port.
	file  string // file field / option 67, "{srv}" replaced by the server address
	opt60 string // option 60 echo ("" = absent)
	via   uint16 // server port the boot file came from: 67, or 4011 (proxy UEFI)
	// The first TFTP read request, "" when the boot goes on over HTTP.
	rrq string
	// The pkg/boot configuration the server ran with, to re-decide the captured request.
	cfg boot.Config
	// mode is the server's DHCP mode when it answered.
	mode boot.Mode
}

// capture is a running tshark.
type capture struct {
	t    *testing.T
	spec traceSpec
	path string
	proc *netlab.Proc
}

// capture starts tshark on br0 for spec; finish stops it and checks the trace.
func (e *env) capture(spec traceSpec) *capture {
	e.t.Helper()
	netlab.RequireCommands(e.t, "tshark")
	dir := e.t.TempDir()
	// dumpcap may drop privileges: the directory must be writable for it.
	if err := os.Chmod(dir, 0o777); err != nil {
		e.t.Fatal(err)
	}
	c := &capture{t: e.t, spec: spec, path: filepath.Join(dir, spec.name+".pcap")}
	c.spec.net = e.net
	c.proc = e.srv.Start("tshark", "-n", "-i", "br0", "-f", "ip and udp", "-c", fmt.Sprint(spec.count),
		"-a", "duration:"+fmt.Sprint(int(2*guestTimeout/time.Second)), "-F", "pcap", "-w", c.path)
	// tshark says "Capturing on" before dumpcap has its filter attached; "Capture started"
	// comes when packets are really being taken (a client that sends at once, like the
	// scripted Pi, would otherwise be missed).
	if !c.proc.WaitOutput("Capture started", 20*time.Second) {
		e.t.Fatalf("tshark did not start:\n%s", c.proc.Output())
	}
	time.Sleep(200 * time.Millisecond)
	return c
}

// finish stops the capture, checks the trace and, with -update, stores it as
// testdata/<name>.pcap.
func (c *capture) finish() {
	c.t.Helper()
	b, ok := c.stop()
	if ok && *update {
		if err := os.WriteFile(filepath.Join("testdata", c.spec.name+".pcap"), b, 0o644); err != nil {
			c.t.Fatal(err)
		}
		c.t.Logf("trace %s: %d bytes written to testdata", c.spec.name, len(b))
	}
}

// stop waits (at most 5 s more) for tshark to reach its packet count, stops it and checks
// the trace against its spec; it returns the trace and whether it passed (a failure is
// reported on c.t).
func (c *capture) stop() ([]byte, bool) {
	c.t.Helper()
	select {
	case <-c.proc.Done():
	case <-time.After(5 * time.Second):
		c.proc.Signal(syscall.SIGINT)
		select {
		case <-c.proc.Done():
		case <-time.After(5 * time.Second):
		}
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		c.t.Fatalf("trace %s: %v\n%s", c.spec.name, err, c.proc.Output())
	}
	if err := checkTrace(b, c.spec); err != nil {
		c.t.Errorf("trace %s: %v", c.spec.name, err)
		return b, false
	}
	return b, true
}

// udpPacket is one IPv4 UDP datagram of a trace.
type udpPacket struct {
	src, dst       netip.Addr
	sport, dport   uint16
	payload        []byte
	ethDst, ethSrc [6]byte
	frame          int
}

// readPcap decodes a classic pcap file of Ethernet frames into its IPv4 UDP datagrams.
func readPcap(b []byte) ([]udpPacket, error) {
	if len(b) < 24 {
		return nil, errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a pcap file")
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	var out []udpPacket
	for off, i := 24, 0; off+16 <= len(b); i++ {
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return out, errors.New("truncated record")
		}
		f := b[off : off+n]
		off += n
		if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		ip := f[14:]
		ihl := int(ip[0]&0xf) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		u := ip[ihl:]
		ulen := int(binary.BigEndian.Uint16(u[4:]))
		if ulen < 8 || ulen > len(u) {
			continue
		}
		out = append(out, udpPacket{
			src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20])),
			sport: binary.BigEndian.Uint16(u), dport: binary.BigEndian.Uint16(u[2:]),
			payload: u[8:ulen], ethDst: [6]byte(f[0:6]), ethSrc: [6]byte(f[6:12]), frame: i + 1,
		})
	}
	return out, nil
}

// dhcpMsg is a decoded BOOTP/DHCP message of a trace.
type dhcpMsg struct {
	op             byte
	siaddr, yiaddr netip.Addr
	chaddr         [6]byte
	file           string
	opts           map[byte][]byte
}

func decodeDHCP(b []byte) (dhcpMsg, bool) {
	if len(b) < 240 || !bytes.Equal(b[236:240], []byte{99, 130, 83, 99}) {
		return dhcpMsg{}, false
	}
	m := dhcpMsg{op: b[0], yiaddr: netip.AddrFrom4([4]byte(b[16:20])), siaddr: netip.AddrFrom4([4]byte(b[20:24])),
		chaddr: [6]byte(b[28:34]), file: strings.TrimRight(string(b[108:236]), "\x00"), opts: map[byte][]byte{}}
	for o := b[240:]; len(o) > 0; {
		if o[0] == 0 {
			o = o[1:]
			continue
		}
		if o[0] == 255 || len(o) < 2 || len(o) < 2+int(o[1]) {
			break
		}
		m.opts[o[0]] = append(m.opts[o[0]], o[2:2+int(o[1])]...)
		o = o[2+int(o[1]):]
	}
	return m, true
}

// bootFile is the reply's boot file: option 67 when present, else the file field.
func (m dhcpMsg) bootFile() string {
	if f, ok := m.opts[67]; ok {
		return strings.TrimRight(string(f), "\x00")
	}
	return m.file
}

// facts turns a captured request into pkg/boot's facts.
func (m dhcpMsg) facts(mode boot.Mode, port uint16) boot.Facts {
	f := boot.Facts{Mode: mode, Port: port, VendorClass: string(m.opts[60]), UserClass: m.opts[77], MAC: m.chaddr, Opt97: m.opts[97]}
	if t := m.opts[53]; len(t) == 1 {
		f.Msg = boot.MsgKind(t[0])
	}
	_, f.Has175 = m.opts[175]
	for a := m.opts[93]; len(a) >= 2; a = a[2:] {
		f.Arch = append(f.Arch, binary.BigEndian.Uint16(a))
	}
	return f
}

// checkTrace checks one captured trace against its spec.
func checkTrace(b []byte, s traceSpec) error {
	pkts, err := readPcap(b)
	if err != nil {
		return err
	}
	srv := netip.MustParseAddr(s.net + ".1")
	sub := func(v string) string { return strings.ReplaceAll(v, "{srv}", srv.String()) }
	var req, reply *dhcpMsg
	rrq := ""
	via := s.via
	if via == 0 {
		via = 67
	}
	for i := range pkts {
		p := &pkts[i]
		switch {
		case p.dport == via && p.sport != 67 && req == nil:
			if m, ok := decodeDHCP(p.payload); ok && m.op == 1 {
				req = &m
			}
		case p.sport == via && p.src == srv && reply == nil:
			if m, ok := decodeDHCP(p.payload); ok && m.op == 2 && (m.bootFile() != "" || s.file == "") {
				reply = &m
			}
		case p.dport == 69 && p.dst == srv && rrq == "" && len(p.payload) > 2 && p.payload[1] == 1:
			rrq, _, _ = strings.Cut(string(p.payload[2:]), "\x00")
		}
	}
	if req == nil {
		return errors.New("no client request in the trace")
	}
	if vc := string(req.opts[60]); !strings.HasPrefix(vc, s.vendorClass) {
		return fmt.Errorf("client option 60 %q, want prefix %q", vc, s.vendorClass)
	}
	f := req.facts(s.mode, via)
	arch, ok := f.ClientArch()
	if s.arch < 0 && len(f.Arch) > 0 || s.arch >= 0 && (!ok || int(arch) != s.arch) {
		return fmt.Errorf("client architecture %v (%v), want %d", arch, ok, s.arch)
	}
	if f.IsIPXE() != s.ipxe {
		return fmt.Errorf("client is iPXE: %v, want %v", f.IsIPXE(), s.ipxe)
	}
	if reply == nil {
		return errors.New("no boot reply from the server in the trace")
	}
	if got := reply.bootFile(); got != sub(s.file) {
		return fmt.Errorf("server boot file %q, want %q", got, sub(s.file))
	}
	if got := string(reply.opts[60]); got != s.opt60 {
		return fmt.Errorf("server option 60 %q, want %q", got, s.opt60)
	}
	if reply.siaddr != srv {
		return fmt.Errorf("server siaddr %v, want %v", reply.siaddr, srv)
	}
	if rrq != sub(s.rrq) {
		return fmt.Errorf("first TFTP read request %q, want %q", rrq, sub(s.rrq))
	}
	// The policy as it is now must still decide what the server sent then (else recapture
	// with -update after checking the change is wanted).
	c := s.cfg
	c.ServerIP, c.TFTP = srv, true
	d := boot.Decide(f, c)
	if d.File != reply.bootFile() {
		return fmt.Errorf("pkg/boot now decides file %q for this request; the trace has %q", d.File, reply.bootFile())
	}
	return nil
}

// The stored traces: one per client kind the scenarios boot.
var traceSpecs = map[string]traceSpec{
	"bios-ipxe-http": {count: 4, vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, ipxe: true,
		file: "http://{srv}/boot.ipxe", opt60: "PXEClient", cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"bios-pxelinux": {count: 12, vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, ipxe: true,
		file: "pxelinux.0", opt60: "PXEClient", rrq: "pxelinux.0"},
	"ovmf-pxe": {count: 12, vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: 7,
		file: "ipxe.efi", rrq: "ipxe.efi", cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"ovmf-http": {count: 6, vendorClass: "HTTPClient:Arch:00016", arch: 16,
		file: "http://{srv}/ipxe.efi", opt60: "HTTPClient", cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"aavmf-pxe": {count: 12, vendorClass: "PXEClient:Arch:00011:UNDI:003000", arch: 11,
		file: grubARM64, rrq: grubARM64, cfg: boot.Config{HTTP: true, HTTPPort: 80, ArchFiles: map[uint16]string{11: grubARM64, 19: grubARM64}}},
	"aavmf-http": {count: 6, vendorClass: "HTTPClient:Arch:00019", arch: 19,
		file: "http://{srv}/" + grubARM64, opt60: "HTTPClient", cfg: boot.Config{HTTP: true, HTTPPort: 80, ArchFiles: map[uint16]string{11: grubARM64, 19: grubARM64}}},
	// The default policy (no --boot-map) for arm64 UEFI: iPXE's arm64 binary, by TFTP for
	// EDK2's PXE and by its http:// URL for UEFI HTTP boot (arm64_ipxe_test.go).
	"aavmf-ipxe-pxe": {count: 12, vendorClass: "PXEClient:Arch:00011:UNDI:003000", arch: 11,
		file: boot.FileIPXEarm64, rrq: boot.FileIPXEarm64, cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"aavmf-ipxe-http": {count: 6, vendorClass: "HTTPClient:Arch:00019", arch: 19,
		file: "http://{srv}/" + boot.FileIPXEarm64, opt60: "HTTPClient", cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"uboot": {count: 12, vendorClass: "U-Boot.armv8", arch: 22, file: "pxelinux.0", rrq: "pxelinux.0"},
	"proxy-ovmf": {count: 20, vendorClass: "PXEClient:Arch:00007:UNDI:003000", arch: 7, mode: boot.Proxy, via: 4011,
		file: "ipxe.efi", opt60: "PXEClient", rrq: "ipxe.efi", cfg: boot.Config{IPXE: true, HTTP: true, HTTPPort: 80}},
	"rpi4": {count: 12, vendorClass: "PXEClient:Arch:00000:UNDI:002001", arch: 0, opt60: "PXEClient",
		rrq: "3c8da5af/start4.elf", cfg: boot.Config{HTTP: true, HTTPPort: 80}},
}

// spec returns the named trace spec.
func spec(name string) traceSpec {
	s, ok := traceSpecs[name]
	if !ok {
		panic("no trace spec " + name)
	}
	s.name = name
	return s
}

// TestGoldenTraces checks every stored trace (testdata/*.pcap) against its spec and the
// current pkg/boot. Traces are recaptured by running the scenarios with -update.
func TestGoldenTraces(t *testing.T) {
	if *update {
		t.Skip("-update: the scenarios of this run rewrite the traces and check them live")
	}
	nets := map[string]string{"bios-ipxe-http": "10.70.1", "bios-pxelinux": "10.70.2", "ovmf-pxe": "10.70.3", "ovmf-http": "10.70.4",
		"uboot": "10.70.5", "aavmf-pxe": "10.70.6", "aavmf-http": "10.70.7", "proxy-ovmf": "10.70.8", "rpi4": "10.70.11",
		"aavmf-ipxe-pxe": "10.70.15", "aavmf-ipxe-http": "10.70.16"}
	for name := range traceSpecs {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name+".pcap"))
			if err != nil {
				t.Fatalf("%v (run the scenario with -update to capture it)", err)
			}
			s := spec(name)
			var ok bool
			if s.net, ok = nets[name]; !ok {
				t.Fatalf("no subnet for %s in TestGoldenTraces' nets (the newEnv number of its scenario)", name)
			}
			if err := checkTrace(b, s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// A Raspberry Pi 4 as its EEPROM bootloader presents itself (field guide §3, §7): MAC in
// the DC:A6:32 block, serial 3c8da5af, board revision c03111.
var (
	piMAC    = [6]byte{0xdc, 0xa6, 0x32, 0x01, 0x36, 0xc2}
	piSerial = uint32(0x3c8da5af)
	piVC     = "PXEClient:Arch:00000:UNDI:002001"
)

// piOpt97 is the bootloader's default option 97: type 0, then "RPi4", the board revision,
// the low four MAC bytes and the serial, little-endian (bootloader docs, DHCP_OPTION97).
func piOpt97() []byte {
	b := []byte{0, 'R', 'P', 'i', '4'}
	b = binary.LittleEndian.AppendUint32(b, 0x00c03111)
	b = append(b, piMAC[2:]...)
	return binary.LittleEndian.AppendUint32(b, piSerial)
}

// piDiscover builds the Pi 4 bootloader's DISCOVER byte by byte (no pxe-edge code): BOOTP
// header without the broadcast flag, options 53, 57, 93 (arch 0), 94 (UNDI 2.1), 97, 60 and
// the parameter list it asks for (1, 3, 43, 60, 66, 67, 128–135).
func piDiscover(xid uint32) []byte { return bootloaderDiscover(xid, piMAC, piOpt97()) }

// bootloaderDiscover is a Pi bootloader's DISCOVER from mac, with option 97 when opt97 is
// not nil (the Pi 2/3 boot ROM sends none by default).
func bootloaderDiscover(xid uint32, mac [6]byte, opt97 []byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, 6
	binary.BigEndian.PutUint32(b[4:], xid)
	copy(b[28:], mac[:])
	copy(b[236:], []byte{99, 130, 83, 99})
	opt := func(code byte, v []byte) { b = append(append(b, code, byte(len(v))), v...) }
	opt(53, []byte{1})
	opt(57, []byte{0x05, 0xc0})
	opt(93, []byte{0, 0})
	opt(94, []byte{1, 2, 1})
	if opt97 != nil {
		opt(97, opt97)
	}
	opt(60, []byte(piVC))
	opt(55, []byte{1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135})
	return append(b, 255)
}

// bootReply is the part of a server reply the test checks.
type bootReply struct {
	yiaddr, siaddr netip.Addr
	opts           map[byte][]byte
}

// parseReply decodes a BOOTP reply with our xid; ok is false for anything else.
func parseReply(b []byte, xid uint32) (bootReply, bool) {
	if len(b) < 240 || b[0] != 2 || binary.BigEndian.Uint32(b[4:]) != xid || !bytes.Equal(b[236:240], []byte{99, 130, 83, 99}) {
		return bootReply{}, false
	}
	r := bootReply{yiaddr: netip.AddrFrom4([4]byte(b[16:20])), siaddr: netip.AddrFrom4([4]byte(b[20:24])), opts: map[byte][]byte{}}
	for o := b[240:]; len(o) > 0; {
		switch o[0] {
		case 0:
			o = o[1:]
			continue
		case 255:
			return r, true
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return r, false
		}
		r.opts[o[0]] = append(r.opts[o[0]], o[2:2+int(o[1])]...)
		o = o[2+int(o[1]):]
	}
	return r, true
}

// dhcpExchange sends the DISCOVER from the client namespace (UDP 68 → 255.255.255.255:67 on
// eth0, no address yet) and reads the OFFER off an AF_PACKET socket: it is unicast at L2 to
// chaddr and at IP to yiaddr, an address the client does not hold yet, so the kernel's UDP
// stack would drop it.
func dhcpExchange(t *testing.T, ns *netlab.NS, msg []byte, xid uint32) bootReply {
	t.Helper()
	var reply bootReply
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		raw, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		defer unix.Close(raw)
		if err := unix.Bind(raw, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			return err
		}
		_ = unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 500000})
		udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(udp)
		_ = unix.SetsockoptInt(udp, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
		_ = unix.SetsockoptInt(udp, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if err := unix.BindToDevice(udp, "eth0"); err != nil {
			return err
		}
		if err := unix.Bind(udp, &unix.SockaddrInet4{Port: 68}); err != nil {
			return err
		}
		buf := make([]byte, 2048)
		// The bootloader resends its DISCOVER; so does this client, every 2 s, 5 times.
		for try := 0; try < 5; try++ {
			if err := unix.Sendto(udp, msg, 0, &unix.SockaddrInet4{Port: 67, Addr: [4]byte{255, 255, 255, 255}}); err != nil {
				return fmt.Errorf("send DISCOVER: %w", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				n, _, err := unix.Recvfrom(raw, buf, 0)
				if err != nil {
					continue // timeout tick
				}
				p := buf[:n]
				if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP {
					continue
				}
				ihl := int(p[0]&0xf) * 4
				if len(p) < ihl+8 || binary.BigEndian.Uint16(p[ihl+2:]) != 68 {
					continue
				}
				if r, ok := parseReply(p[ihl+8:], xid); ok {
					reply = r
					return nil
				}
			}
		}
		return errors.New("no reply to the Pi 4 DISCOVER within 10 s")
	})
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// tftpClient is the Pi bootloader's TFTP side: one UDP socket (opened in the client
// namespace), RRQs with tsize and blksize 1024, lock-step ACKs.
type tftpClient struct {
	conn   *net.UDPConn
	server netip.Addr
	plain  bool // no options: RFC 1350 512-byte blocks, as the Pi 2/3 boot ROM reads
}

// tftpError is an ERROR packet from the server.
type tftpError struct {
	code uint16
	msg  string
}

func (e *tftpError) Error() string { return fmt.Sprintf("TFTP ERROR %d %q", e.code, e.msg) }

// get reads name. With probe, it stops after the first DATA block with ERROR 0 "Early
// terminate", as the Pi does when it only checks that a file exists.
func (c *tftpClient) get(name string, probe bool) ([]byte, error) {
	rrq := []byte{0, 1}
	fields := []string{name, "octet", "tsize", "0", "blksize", "1024"}
	if c.plain {
		fields = fields[:2]
	}
	for _, s := range fields {
		rrq = append(append(rrq, s...), 0)
	}
	srv := net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.server, 69))
	if _, err := c.conn.WriteToUDP(rrq, srv); err != nil {
		return nil, err
	}
	var tid *net.UDPAddr
	var out []byte
	blksize, next := 512, uint16(1)
	buf := make([]byte, 2048)
	lastSent, tries := rrq, 0
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			if tries++; tries > 4 {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			to := srv
			if tid != nil {
				to = tid
			}
			_, _ = c.conn.WriteToUDP(lastSent, to)
			continue
		}
		if tid == nil {
			tid = from
		} else if from.Port != tid.Port {
			continue
		}
		p := buf[:n]
		if len(p) < 4 {
			continue
		}
		ack := func(block uint16) {
			lastSent = []byte{0, 4, byte(block >> 8), byte(block)}
			_, _ = c.conn.WriteToUDP(lastSent, tid)
		}
		switch binary.BigEndian.Uint16(p) {
		case 5:
			return nil, &tftpError{binary.BigEndian.Uint16(p[2:]), strings.TrimRight(string(p[4:]), "\x00")}
		case 6: // OACK
			f := strings.Split(strings.TrimRight(string(p[2:]), "\x00"), "\x00")
			for i := 0; i+1 < len(f); i += 2 {
				if strings.EqualFold(f[i], "blksize") {
					blksize, _ = strconv.Atoi(f[i+1])
				}
			}
			ack(0)
		case 3:
			block := binary.BigEndian.Uint16(p[2:])
			if block != next {
				ack(next - 1)
				continue
			}
			out = append(out, p[4:]...)
			if probe {
				_, _ = c.conn.WriteToUDP(append([]byte{0, 5, 0, 0}, "Early terminate\x00"...), tid)
				return out, nil
			}
			ack(block)
			next++
			if len(p)-4 < blksize {
				return out, nil
			}
		}
	}
}

// Scenario 7: a Raspberry Pi 4 bootloader replayed. Its DISCOVER (option 97 "RPi4…", arch 0,
// PXEClient UNDI 2.1, a DC:A6:32 MAC) gets an OFFER with the "Raspberry Pi Boot" option 43,
// option 66 as a dotted IP, siaddr, 60 and 97 echoed; the lease is committed at OFFER (no
// REQUEST is sent); then the bootloader's TFTP sequence gets the serial-prefixed files from
// the per-Pi directory and the rest from the root.
func TestRaspberryPi4Replay(t *testing.T) {
	netlab.RequireCommands(t, "curl")
	e := newEnv(t, 11)
	pi := e.lab.Namespace("pi")
	e.lab.Veth(e.srv, "ppi", "", pi, "eth0", "")
	e.srv.AttachToBridge("ppi", "br0")
	pi.MustRun("ip", "link", "set", "eth0", "address", net.HardwareAddr(piMAC[:]).String())

	serial := fmt.Sprintf("%08x", piSerial)
	content := func(where, name string) []byte {
		return []byte(strings.Repeat(where+":"+name+"\n", 300)) // > 1 block at blksize 1024
	}
	for _, f := range []string{"start4.elf", "fixup4.dat", "config.txt", "bcm2711-rpi-4-b.dtb", "cmdline.txt", "kernel8.img"} {
		writeFile(t, filepath.Join(e.dir, f), content("root", f))
	}
	perPi := map[string]bool{"start4.elf": true, "config.txt": true, "cmdline.txt": true}
	for f := range perPi {
		writeFile(t, filepath.Join(e.dir, serial, f), content(serial, f))
	}
	p := e.startServer("--dhcp", "--http", "--http-port", "80", "--debug", "dhcp")

	capt := e.capture(spec("rpi4"))
	xid := uint32(0x5a17e4a1)
	r := dhcpExchange(t, pi, piDiscover(xid), xid)
	if mt := r.opts[53]; len(mt) != 1 || mt[0] != 2 {
		t.Fatalf("reply is not an OFFER: option 53 = %v", mt)
	}
	server := netip.MustParseAddr(e.ServerIP())
	if r.siaddr != server {
		t.Errorf("siaddr %v, want %v", r.siaddr, server)
	}
	if got := string(r.opts[66]); got != e.ServerIP() {
		t.Errorf("option 66 %q, want the dotted IP %q", got, e.ServerIP())
	}
	if got := string(r.opts[60]); got != "PXEClient" {
		t.Errorf("option 60 %q, want PXEClient", got)
	}
	if !bytes.Equal(r.opts[97], piOpt97()) {
		t.Errorf("option 97 not echoed: % x", r.opts[97])
	}
	if o43 := r.opts[43]; !bytes.Contains(o43, []byte("\x09\x14\x00\x00\x11Raspberry Pi Boot")) || o43[len(o43)-1] != 255 {
		t.Errorf("option 43 lacks the Raspberry Pi Boot menu item: % x", o43)
	}
	if !strings.HasPrefix(r.yiaddr.String(), e.net+".") {
		t.Fatalf("yiaddr %v not in the pool", r.yiaddr)
	}

	// No REQUEST follows (the Pi 3 ROM never sends one): the lease must exist already.
	e.checkLeaseBound(piMAC, r.yiaddr)

	// TFTP in the Pi 4 bootloader's order (field guide §7).
	pi.MustRun("ip", "addr", "add", r.yiaddr.String()+"/24", "dev", "eth0")
	var c tftpClient
	c.server = server
	if err := pi.Do(func() error {
		var err error
		c.conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.yiaddr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	b, err := c.get(serial+"/start4.elf", true)
	if err != nil || len(b) != 1024 || !bytes.HasPrefix(b, []byte(serial+":start4.elf")) {
		t.Fatalf("probe of %s/start4.elf: %v (%d bytes: %.30q)", serial, err, len(b), b)
	}
	for _, f := range []string{"config.txt", "start4.elf", "fixup4.dat", "config.txt", "bcm2711-rpi-4-b.dtb", "cmdline.txt", "kernel8.img"} {
		b, err := c.get(serial+"/"+f, false)
		want := content("root", f)
		if perPi[f] {
			want = content(serial, f)
		}
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s/%s: %v; got %d bytes %.30q, want %d bytes %.30q", serial, f, err, len(b), b, len(want), want)
		}
	}
	capt.finish()
	// Another Pi's probe in a directory that does not exist must fail, so that it drops
	// the prefix.
	if _, err := c.get("00000bad/start4.elf", true); !errors.As(err, new(*tftpError)) {
		t.Errorf("probe in a missing serial directory: %v, want a TFTP error", err)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", p.Output())
	}
}

// statusLease is one lease as the status API lists it.
type statusLease struct{ MAC, IP, State string }

// statusLeases returns the leases the server's status API lists.
func (e *env) statusLeases() []statusLease {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := e.srv.Run(ctx, "curl", "-sSf", "--max-time", "5", "http://"+e.ServerIP()+"/api/status")
	if err != nil {
		a, _ := e.srv.Run(ctx, "ip", "-4", "addr", "show")
		l, _ := e.srv.Run(ctx, "ss", "-ltnp")
		time.Sleep(time.Second)
		out2, err2 := e.srv.Run(ctx, "curl", "-sSf", "--max-time", "5", "http://"+e.ServerIP()+"/api/status")
		t.Fatalf("status API: %v\n%s\naddrs:\n%s\nlisteners:\n%s\nretry 1 s later: %v %.100s", err, out, a, l, err2, out2)
	}
	var st struct {
		Leases []statusLease `json:"leases"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	return st.Leases
}

// checkLeaseBound asks the status API for the lease of mac and fails unless it holds ip,
// bound.
func (e *env) checkLeaseBound(mac [6]byte, ip netip.Addr) {
	t := e.t
	t.Helper()
	leases := e.statusLeases()
	found := false
	for _, l := range leases {
		if l.MAC == net.HardwareAddr(mac[:]).String() && l.IP == ip.String() {
			found = true
			if l.State != "bound" {
				t.Errorf("the Pi's lease is %q after the OFFER, want bound (committed at OFFER)", l.State)
			}
		}
	}
	if !found {
		t.Fatalf("no lease for the Pi after its OFFER: %+v", leases)
	}

}

// Scenario 7, the older sibling: the Pi 2/3 boot ROM (MAC B8:27:EB, no option 97) is known
// by its MAC, gets the three-space menu text its ROM needs, has its lease committed at OFFER
// (it never sends a REQUEST), and reads bootcode.bin with plain RFC 1350 TFTP.
func TestRaspberryPi3Replay(t *testing.T) {
	netlab.RequireCommands(t, "curl")
	e := newEnv(t, 12)
	mac := [6]byte{0xb8, 0x27, 0xeb, 0x12, 0x34, 0x56}
	pi := e.lab.Namespace("pi")
	e.lab.Veth(e.srv, "ppi", "", pi, "eth0", "")
	e.srv.AttachToBridge("ppi", "br0")
	pi.MustRun("ip", "link", "set", "eth0", "address", net.HardwareAddr(mac[:]).String())
	bootcode := []byte(strings.Repeat("bootcode.bin\n", 1000))
	writeFile(t, filepath.Join(e.dir, "bootcode.bin"), bootcode)
	e.startServer("--dhcp", "--http", "--http-port", "80")

	xid := uint32(0x3b27eb01)
	r := dhcpExchange(t, pi, bootloaderDiscover(xid, mac, nil), xid)
	if o43 := r.opts[43]; !bytes.Contains(o43, []byte("\x09\x17\x00\x00\x14Raspberry Pi Boot   ")) {
		t.Errorf("option 43 lacks the three-space Raspberry Pi Boot menu item: % x", o43)
	}
	if got := string(r.opts[66]); got != e.ServerIP() || r.siaddr.String() != e.ServerIP() {
		t.Errorf("option 66 %q / siaddr %v, want %s", got, r.siaddr, e.ServerIP())
	}
	if _, ok := r.opts[97]; ok {
		t.Errorf("option 97 in the reply although the client sent none")
	}
	e.checkLeaseBound(mac, r.yiaddr)

	pi.MustRun("ip", "addr", "add", r.yiaddr.String()+"/24", "dev", "eth0")
	c := tftpClient{server: netip.MustParseAddr(e.ServerIP()), plain: true}
	if err := pi.Do(func() error {
		var err error
		c.conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.yiaddr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	if b, err := c.get("bootcode.bin", false); err != nil || !bytes.Equal(b, bootcode) {
		t.Fatalf("bootcode.bin: %v (%d bytes, want %d)", err, len(b), len(bootcode))
	}
	// The ROM then asks for bootsig.bin; "not found" is the normal answer.
	if _, err := c.get("bootsig.bin", false); !errors.As(err, new(*tftpError)) {
		t.Errorf("bootsig.bin: %v, want a TFTP error", err)
	}
}

package rawdhcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Sizes of the fixed BOOTP header (RFC 951, RFC 2131 §2).
const (
	headerLen   = 236
	cookieLen   = 4
	snameOff    = 44
	snameLen    = 64
	fileOff     = 108
	fileLen     = 128
	optionsOff  = headerLen + cookieLen
	MinReplyLen = 300 // RFC 1542 §2.1: minimum BOOTP/DHCP UDP payload a relay must accept
	// DefaultMaxMessageSize is the IP datagram size every client must accept (RFC 2131 §2).
	DefaultMaxMessageSize = 576
)

var magicCookie = [4]byte{99, 130, 83, 99}

// FlagBroadcast is the BOOTP broadcast flag (RFC 1542, RFC 2131 §2).
const FlagBroadcast uint16 = 0x8000

// Message is one BOOTP/DHCP message. The zero value is an empty message; decode into the
// same Message again and again to reuse its storage.
type Message struct {
	Op     OpCode
	HType  uint8 // hardware type, 1 = Ethernet
	HLen   uint8 // hardware address length, 6 for Ethernet
	Hops   uint8
	XID    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr // client's address when it already has one
	YIAddr netip.Addr // "your" address: what the server gives
	SIAddr netip.Addr // next server (TFTP) address
	GIAddr netip.Addr // relay agent address
	CHAddr [16]byte   // client hardware address; the first HLen bytes count
	// SName and File are the raw fixed fields. After Decode of an overloaded message
	// (option 52) the field that carried options is zeroed and its options are in Options.
	SName [64]byte
	File  [128]byte
	// Options holds the DHCP options. A message without the magic cookie (plain BOOTP)
	// decodes with no options.
	Options Options
}

// Reset clears the message and keeps the options storage.
func (m *Message) Reset() {
	o := m.Options
	o.Reset()
	*m = Message{Options: o}
}

// Decode parses b into m, replacing its contents. m's option storage is reused, so a warmed
// Message decodes without allocating. Decode never reads past b and never retains b.
// Errors wrap ErrMalformed; on error m holds no useful data.
func (m *Message) Decode(b []byte) error {
	m.Options.Reset()
	if len(b) < headerLen {
		return fmt.Errorf("rawdhcp: message of %d bytes is shorter than the %d-byte BOOTP header: %w", len(b), headerLen, ErrMalformed)
	}
	m.Op = OpCode(b[0])
	m.HType, m.HLen, m.Hops = b[1], b[2], b[3]
	m.XID = binary.BigEndian.Uint32(b[4:8])
	m.Secs = binary.BigEndian.Uint16(b[8:10])
	m.Flags = binary.BigEndian.Uint16(b[10:12])
	m.CIAddr = netip.AddrFrom4([4]byte(b[12:16]))
	m.YIAddr = netip.AddrFrom4([4]byte(b[16:20]))
	m.SIAddr = netip.AddrFrom4([4]byte(b[20:24]))
	m.GIAddr = netip.AddrFrom4([4]byte(b[24:28]))
	copy(m.CHAddr[:], b[28:44])
	copy(m.SName[:], b[snameOff:snameOff+snameLen])
	copy(m.File[:], b[fileOff:fileOff+fileLen])
	if len(b) < optionsOff || [4]byte(b[headerLen:optionsOff]) != magicCookie {
		// Plain BOOTP: the vendor area is not DHCP options.
		return nil
	}
	d := optDecoder{o: &m.Options}
	overload, err := d.parseAreas(b)
	if err != nil {
		return err
	}
	d.layout()
	if _, err := d.parseAreas(b); err != nil {
		return err
	}
	if overload&1 != 0 {
		m.File = [128]byte{}
	}
	if overload&2 != 0 {
		m.SName = [64]byte{}
	}
	return nil
}

// parseAreas runs one pass of d over the option areas of message b in the order RFC 2131
// §4.1 and RFC 3396 give: the options field, then file, then sname when option 52 says so.
func (d *optDecoder) parseAreas(b []byte) (overload byte, err error) {
	overload, err = d.parseArea(b[optionsOff:], "options", true)
	if err != nil {
		return 0, err
	}
	if overload&1 != 0 {
		if _, err := d.parseArea(b[fileOff:fileOff+fileLen], "file", false); err != nil {
			return 0, err
		}
	}
	if overload&2 != 0 {
		if _, err := d.parseArea(b[snameOff:snameOff+snameLen], "sname", false); err != nil {
			return 0, err
		}
	}
	return overload, nil
}

// Append encodes m and appends it to dst. Options are written in store order after the magic
// cookie, long values split per RFC 3396, followed by the end option. Append never uses
// option overload and does not pad; Conn pads replies to MinReplyLen. A zero netip.Addr
// encodes as 0.0.0.0; an IPv6 address is an error.
func (m *Message) Append(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, byte(m.Op), m.HType, m.HLen, m.Hops)
	dst = binary.BigEndian.AppendUint32(dst, m.XID)
	dst = binary.BigEndian.AppendUint16(dst, m.Secs)
	dst = binary.BigEndian.AppendUint16(dst, m.Flags)
	for _, a := range [...]struct {
		name string
		a    netip.Addr
	}{{"ciaddr", m.CIAddr}, {"yiaddr", m.YIAddr}, {"siaddr", m.SIAddr}, {"giaddr", m.GIAddr}} {
		switch {
		case !a.a.IsValid():
			dst = append(dst, 0, 0, 0, 0)
		case a.a.Is4():
			b := a.a.As4()
			dst = append(dst, b[:]...)
		default:
			return dst[:start], fmt.Errorf("rawdhcp: %s %v is not an IPv4 address: %w", a.name, a.a, ErrMalformed)
		}
	}
	dst = append(dst, m.CHAddr[:]...)
	dst = append(dst, m.SName[:]...)
	dst = append(dst, m.File[:]...)
	dst = append(dst, magicCookie[:]...)
	dst, err := m.Options.appendTo(dst)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// HardwareAddr returns the client hardware address, the first HLen (at most 16) bytes of
// CHAddr. The slice aliases m.
func (m *Message) HardwareAddr() net.HardwareAddr {
	n := min(int(m.HLen), len(m.CHAddr))
	return m.CHAddr[:n:n]
}

// MAC returns the first six bytes of CHAddr, the Ethernet address.
func (m *Message) MAC() [6]byte { return [6]byte(m.CHAddr[:6]) }

// SetHardwareAddr sets CHAddr and HLen from mac and HType to Ethernet (1) for a 6-byte
// address. Addresses longer than 16 bytes are truncated.
func (m *Message) SetHardwareAddr(mac net.HardwareAddr) {
	m.CHAddr = [16]byte{}
	n := copy(m.CHAddr[:], mac)
	m.HLen = uint8(n)
	if n == 6 {
		m.HType = 1
	}
}

// Broadcast reports whether the client set the broadcast flag.
func (m *Message) Broadcast() bool { return m.Flags&FlagBroadcast != 0 }

// ServerName returns the sname field up to its first NUL.
func (m *Message) ServerName() []byte { return cstring(m.SName[:]) }

// FileName returns the file field up to its first NUL.
func (m *Message) FileName() []byte { return cstring(m.File[:]) }

// SetServerName stores s NUL-terminated in sname; it fails if s does not fit (63 bytes).
func (m *Message) SetServerName(s string) error {
	if len(s) >= len(m.SName) {
		return fmt.Errorf("rawdhcp: server name of %d bytes does not fit the 64-byte sname field", len(s))
	}
	m.SName = [64]byte{}
	copy(m.SName[:], s)
	return nil
}

// SetFileName stores s NUL-terminated in file; it fails if s does not fit (127 bytes).
func (m *Message) SetFileName(s string) error {
	if len(s) >= len(m.File) {
		return fmt.Errorf("rawdhcp: boot file name of %d bytes does not fit the 128-byte file field", len(s))
	}
	m.File = [128]byte{}
	copy(m.File[:], s)
	return nil
}

func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i:i]
	}
	return b[:len(b):len(b)]
}

// InitReply resets m and fills the fields RFC 2131 §4.1 copies from a request into every
// reply: op = BOOTREPLY, htype, hlen, xid, flags, giaddr and chaddr; then sets option 53 to
// typ so it leads the options. Options such as 82 (relay agent information, echo it last)
// are the caller's to add.
func (m *Message) InitReply(req *Message, typ MessageType) {
	m.Reset()
	m.Op = BootReply
	m.HType, m.HLen = req.HType, req.HLen
	m.XID, m.Flags = req.XID, req.Flags
	m.GIAddr = req.GIAddr
	m.CHAddr = req.CHAddr
	m.CIAddr = netip.IPv4Unspecified()
	m.YIAddr = netip.IPv4Unspecified()
	m.SIAddr = netip.IPv4Unspecified()
	if !m.GIAddr.IsValid() {
		m.GIAddr = netip.IPv4Unspecified()
	}
	m.SetMessageType(typ)
}

// String summarises m for logs: type, xid, chaddr, the addresses that are set and the
// option codes. It allocates; keep it off the hot path.
func (m *Message) String() string {
	var b []byte
	if t, ok := m.MessageType(); ok {
		b = append(b, t.String()...)
	} else if m.Op == BootReply {
		b = append(b, "BOOTREPLY"...)
	} else {
		b = append(b, "BOOTREQUEST"...)
	}
	b = fmt.Appendf(b, " xid=%08x chaddr=%v", m.XID, m.HardwareAddr())
	if m.Broadcast() {
		b = append(b, " broadcast"...)
	}
	for _, a := range [...]struct {
		name string
		a    netip.Addr
	}{{"ciaddr", m.CIAddr}, {"yiaddr", m.YIAddr}, {"siaddr", m.SIAddr}, {"giaddr", m.GIAddr}} {
		if nonzero(a.a) {
			b = fmt.Appendf(b, " %s=%v", a.name, a.a)
		}
	}
	b = append(b, " options="...)
	for i := range m.Options.Len() {
		c, _ := m.Options.At(i)
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", c)
	}
	return string(b)
}

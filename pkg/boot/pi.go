package boot

import "encoding/binary"

// Raspberry Pi MAC vendor prefixes (OUIs).
var piOUIs = [...][3]byte{
	{0xB8, 0x27, 0xEB}, // Raspberry Pi Foundation: Pi 1/2/3
	{0xDC, 0xA6, 0x32}, // Raspberry Pi Trading: Pi 4
	{0xE4, 0x5F, 0x01}, // Pi 4/400
	{0x28, 0xCD, 0xC1}, // Pi 4/400/CM4, Zero 2 W
	{0xD8, 0x3A, 0xDD}, // Pi 5/CM
	{0x2C, 0xCF, 0x67}, // Pi 5
}

// IsPiMAC reports whether mac carries a Raspberry Pi vendor prefix.
func IsPiMAC(mac [6]byte) bool {
	for _, o := range piOUIs {
		if mac[0] == o[0] && mac[1] == o[1] && mac[2] == o[2] {
			return true
		}
	}
	return false
}

// PiGUID is what a Pi 4/5 bootloader puts in option 97 by default (bootloader docs,
// DHCP_OPTION97): the fourcc "RPi4"/"RPi5" (0x34695052 little-endian), the board revision,
// the low 4 bytes of the MAC and the serial number, 4 bytes each.
type PiGUID struct {
	Model    string // "RPi4", "RPi5"
	Revision uint32 // board revision code, e.g. 0x00c03111
	MACLow   [4]byte
	Serial   uint32
}

// SerialDir returns the serial number as the Pi writes its TFTP prefix: 8 lower-case hex
// digits.
func (g PiGUID) SerialDir() string {
	const hex = "0123456789abcdef"
	var b [8]byte
	for i := range b {
		b[i] = hex[g.Serial>>(28-4*i)&0xf]
	}
	return string(b[:])
}

// ParsePiGUID decodes option 97 from a Pi 4/5 bootloader. It accepts the RFC 4578 layout
// (type 0 + 16 bytes) and a bare 16-byte GUID. The fourcc must be "RPi" and a digit. The
// integer fields are read little-endian like the fourcc (the bootloader is little-endian);
// the serial is the only one the server uses, for logs and the TFTP prefix.
func ParsePiGUID(opt97 []byte) (PiGUID, bool) {
	g := opt97
	switch {
	case len(g) == 17 && g[0] == 0:
		g = g[1:]
	case len(g) == 16:
	default:
		return PiGUID{}, false
	}
	if g[0] != 'R' || g[1] != 'P' || g[2] != 'i' || g[3] < '0' || g[3] > '9' {
		return PiGUID{}, false
	}
	return PiGUID{
		Model:    string(g[0:4]),
		Revision: binary.LittleEndian.Uint32(g[4:8]),
		MACLow:   [4]byte(g[8:12]),
		Serial:   binary.LittleEndian.Uint32(g[12:16]),
	}, true
}

// piMatch is the result of Raspberry Pi recognition.
type piMatch struct {
	kind      string
	guid      PiGUID
	hasGUID   bool
	oldROM    bool // Pi 2/3 boot ROM family: wants the three-space menu text
	recognise bool
}

// recognisePi decides whether the request comes from a Raspberry Pi bootloader. A Pi sends
// arch 0 (or none, or 41 for rpiboot) and vendor class PXEClient; the architecture alone
// cannot tell it from a BIOS PC, so it is recognised by option 97 "RPi4"/"RPi5" or a Pi MAC
// prefix. A Pi running UEFI firmware, U-Boot or iPXE says so in its request and is not a Pi
// bootloader here.
func recognisePi(f *Facts, arch uint16, archKnown bool, vc vendorClassKind) piMatch {
	if archKnown && arch != ArchBIOS && arch != ArchRPiBoot {
		return piMatch{}
	}
	if g, ok := ParsePiGUID(f.Opt97); ok {
		m := piMatch{recognise: true, guid: g, hasGUID: true, kind: KindRPi}
		switch g.Model {
		case "RPi4":
			m.kind = KindRPi4
		case "RPi5":
			m.kind = KindRPi5
		}
		return m
	}
	if archKnown && arch == ArchRPiBoot {
		return piMatch{recognise: true, kind: KindRPi}
	}
	// By MAC only with a PXE vendor class: a Pi's Linux DHCP client is not its bootloader.
	if vc == vcPXE && IsPiMAC(f.MAC) {
		m := piMatch{recognise: true, kind: KindRPi}
		if f.MAC[0] == 0xB8 && f.MAC[1] == 0x27 && f.MAC[2] == 0xEB {
			m.kind, m.oldROM = KindRPi3, true
		}
		return m
	}
	return piMatch{}
}

// piPrefix returns the TFTP prefix directory the Pi will use, when it can be known.
func piPrefix(c *PiConfig, f *Facts, m *piMatch) string {
	switch c.TFTPPrefix {
	case "":
		if m.hasGUID {
			return m.guid.SerialDir()
		}
		return ""
	case "mac":
		return MACDashed(f.MAC)
	}
	return c.TFTPPrefix
}

// MACDashed formats mac as lower-case hex pairs joined by dashes (dc-a6-32-01-36-c2), the
// form of iPXE's ${mac:hexhyp}, the Pi MAC prefix and dnsmasq's unique-root.
func MACDashed(mac [6]byte) string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, x := range mac {
		if i > 0 {
			b[3*i-1] = '-'
		}
		b[3*i] = hex[x>>4]
		b[3*i+1] = hex[x&0xf]
	}
	return string(b[:])
}

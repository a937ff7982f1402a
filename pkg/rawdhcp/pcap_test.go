package rawdhcp

import (
	"encoding/binary"
	"fmt"
	"os"
)

// pcapFrame is one captured Ethernet frame.
type pcapFrame struct {
	dst, src MAC
	ip       []byte // from the IPv4 header on
}

// readPcap reads a classic pcap file (as written by `tshark -F pcap`) of Ethernet frames and
// returns the IPv4 frames. It is test-only: golden files are produced by tshark.
func readPcap(path string) ([]pcapFrame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: short pcap header", path)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%s: not a classic pcap file", path)
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("%s: link type %d, want Ethernet", path, lt)
	}
	var out []pcapFrame
	for p := b[24:]; len(p) > 0; {
		if len(p) < 16 {
			return nil, fmt.Errorf("%s: truncated record header", path)
		}
		n := int(bo.Uint32(p[8:]))
		if len(p) < 16+n {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		f := p[16 : 16+n]
		p = p[16+n:]
		if len(f) < 14 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		out = append(out, pcapFrame{dst: MAC(f[0:6]), src: MAC(f[6:12]), ip: f[14:]})
	}
	return out, nil
}

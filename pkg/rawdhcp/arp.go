package rawdhcp

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/net/bpf"
)

// arpSender reads an ARP packet for IPv4 over Ethernet (the payload after the Ethernet
// header) and returns the sender's protocol address of a request or reply: a host that
// sends either uses that address. ok is false for anything else.
func arpSender(b []byte) (sender netip.Addr, ok bool) {
	if len(b) < 28 {
		return netip.Addr{}, false
	}
	if op := binary.BigEndian.Uint16(b[6:8]); op != 1 && op != 2 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[14:18])), true
}

// mustAssemble assembles a fixed BPF program (a bug if it fails).
func mustAssemble(ins []bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(ins)
	if err != nil {
		panic(err)
	}
	return raw
}

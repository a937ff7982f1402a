//go:build linux

package rawdhcp

import (
	"net"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

const ethPIPv4 = 0x0800

// clientPortFilter accepts unfragmented IPv4/UDP datagrams to port 68: what DHCP servers
// send to clients. On a Datagram socket offset 0 is the IPv4 header.
var clientPortFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 9, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 6},
	bpf.LoadAbsolute{Off: 6, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
	bpf.LoadMemShift{Off: 0},
	bpf.LoadIndirect{Off: 2, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 68, SkipTrue: 1},
	bpf.RetConstant{Val: 1600},
	bpf.RetConstant{Val: 0},
})

// listenClientPort opens an AF_PACKET socket on ifi that sees DHCP traffic to clients.
func listenClientPort(ifi *net.Interface) (*packet.Conn, error) {
	return packet.Listen(ifi, packet.Datagram, ethPIPv4, &packet.Config{Filter: clientPortFilter})
}

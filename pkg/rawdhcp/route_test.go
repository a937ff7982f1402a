package rawdhcp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

func TestRouteReply(t *testing.T) {
	chaddr := MAC{0x52, 0x54, 0, 0x30, 0, 9}
	router := MAC{2, 0, 0, 0, 0, 1}
	ip := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name    string
		req     func(m *Message)
		typ     MessageType
		yiaddr  string
		info    PacketInfo
		relay   bool
		dstMAC  MAC
		dst     string
		srcPort uint16
	}{
		{name: "unicast to yiaddr at chaddr", typ: Offer, yiaddr: "10.30.0.50",
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67")},
			dstMAC: chaddr, dst: "10.30.0.50:68", srcPort: 67},
		{name: "broadcast flag", req: func(m *Message) { m.Flags = FlagBroadcast }, typ: Offer, yiaddr: "10.30.0.50",
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67")},
			dstMAC: BroadcastMAC, dst: "255.255.255.255:68", srcPort: 67},
		{name: "relay", req: func(m *Message) { m.GIAddr = ip("10.30.1.1"); m.Hops = 1 }, typ: Offer, yiaddr: "10.30.1.50",
			info:  PacketInfo{Src: ap("10.30.2.1:67"), Dst: ap("10.30.2.2:67"), SrcMAC: router},
			relay: true, dst: "10.30.1.1:67", srcPort: 67},
		{name: "relay beats broadcast flag and NAK", req: func(m *Message) { m.GIAddr = ip("10.30.1.1"); m.Flags = FlagBroadcast }, typ: Nak,
			info:  PacketInfo{Src: ap("10.30.2.1:67"), Dst: ap("10.30.2.2:67")},
			relay: true, dst: "10.30.1.1:67", srcPort: 67},
		{name: "NAK broadcast even with ciaddr", req: func(m *Message) { m.CIAddr = ip("10.30.0.77") }, typ: Nak,
			info:   PacketInfo{Src: ap("10.30.0.77:68"), Dst: ap("10.30.0.1:67"), SrcMAC: chaddr},
			dstMAC: BroadcastMAC, dst: "255.255.255.255:68", srcPort: 67},
		{name: "renewing: ciaddr unicast", req: func(m *Message) { m.CIAddr = ip("10.30.0.77") }, typ: Ack, yiaddr: "10.30.0.77",
			info:   PacketInfo{Src: ap("10.30.0.77:68"), Dst: ap("10.30.0.1:67"), SrcMAC: chaddr},
			dstMAC: chaddr, dst: "10.30.0.77:68", srcPort: 67},
		{name: "ciaddr via a router: link address of the sender", req: func(m *Message) { m.CIAddr = ip("10.30.5.7") }, typ: Ack,
			info:   PacketInfo{Src: ap("10.30.5.7:68"), Dst: ap("10.30.0.1:67"), SrcMAC: router},
			dstMAC: router, dst: "10.30.5.7:68", srcPort: 67},
		{name: "ciaddr and broadcast flag: ciaddr wins", req: func(m *Message) { m.CIAddr = ip("10.30.0.77"); m.Flags = FlagBroadcast }, typ: Ack,
			info:   PacketInfo{Src: ap("10.30.0.77:68"), Dst: ap("255.255.255.255:67"), SrcMAC: chaddr},
			dstMAC: chaddr, dst: "10.30.0.77:68", srcPort: 67},
		{name: "broadcast ciaddr (hostile) is ignored", req: func(m *Message) { m.CIAddr = ip("255.255.255.255") }, typ: Ack, yiaddr: "10.30.0.50",
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67"), SrcMAC: chaddr},
			dstMAC: chaddr, dst: "10.30.0.50:68", srcPort: 67},
		{name: "multicast giaddr (hostile) is no relay", req: func(m *Message) { m.GIAddr = ip("224.0.0.1") }, typ: Offer, yiaddr: "10.30.0.50",
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67"), SrcMAC: chaddr},
			dstMAC: chaddr, dst: "10.30.0.50:68", srcPort: 67},
		{name: "proxy offer without yiaddr: broadcast", typ: Offer,
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67")},
			dstMAC: BroadcastMAC, dst: "255.255.255.255:68", srcPort: 67},
		{name: "PXE 4011 service answers the source", req: func(m *Message) { m.CIAddr = ip("10.30.0.77") }, typ: Ack,
			info:   PacketInfo{Src: ap("10.30.0.77:68"), Dst: ap("10.30.0.1:4011"), SrcMAC: chaddr},
			dstMAC: chaddr, dst: "10.30.0.77:68", srcPort: 4011},
		{name: "non-Ethernet chaddr: broadcast", req: func(m *Message) { m.HType = 6 }, typ: Offer, yiaddr: "10.30.0.50",
			info:   PacketInfo{Src: ap("0.0.0.0:68"), Dst: ap("255.255.255.255:67")},
			dstMAC: BroadcastMAC, dst: "255.255.255.255:68", srcPort: 67},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req, resp Message
			req.Op, req.HType, req.HLen = BootRequest, 1, 6
			copy(req.CHAddr[:], chaddr[:])
			req.CIAddr, req.GIAddr = netip.IPv4Unspecified(), netip.IPv4Unspecified()
			if tc.req != nil {
				tc.req(&req)
			}
			resp.InitReply(&req, tc.typ)
			if tc.yiaddr != "" {
				resp.YIAddr = ip(tc.yiaddr)
			}
			r := routeReply(&resp, &req, &tc.info)
			if r.relay != tc.relay || r.dst.String() != tc.dst || r.srcPort != tc.srcPort || (!tc.relay && r.dstMAC != tc.dstMAC) {
				t.Errorf("got relay %v %v→%v at %v, want relay %v %d→%s at %v", r.relay, r.srcPort, r.dst, r.dstMAC, tc.relay, tc.srcPort, tc.dst, tc.dstMAC)
			}
		})
	}
}

func TestFrameReplySizes(t *testing.T) {
	var req, resp Message
	req.Op, req.HType, req.HLen = BootRequest, 1, 6
	resp.InitReply(&req, Offer)
	srv := netip.MustParseAddr("10.30.0.1")
	r := route{dstMAC: BroadcastMAC, dst: netip.MustParseAddrPort("255.255.255.255:68"), srcPort: 67}
	buf := make([]byte, 1500)
	pkt, err := frameReply(buf, &resp, &req, r, srv, 1, 1500)
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := ParseIPv4UDP(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if len(payload) != MinReplyLen || h.Src.Addr() != srv || h.Dst != r.dst {
		t.Errorf("payload %d bytes from %v to %v", len(payload), h.Src, h.Dst)
	}

	// 576 default: 548 bytes of DHCP message at most.
	resp.Options.Set(OptVendorSpecific, make([]byte, 548-248+1)) // 240 header+cookie, 3 for option 53, 2×2 for 43's two pieces, 1 end
	if _, err := frameReply(buf, &resp, &req, r, srv, 1, 1500); err == nil || !strings.Contains(err.Error(), "limit of 548") {
		t.Errorf("oversized reply: %v", err)
	}
	resp.Options.Set(OptVendorSpecific, make([]byte, 548-248))
	if pkt, err := frameReply(buf, &resp, &req, r, srv, 1, 1500); err != nil || len(pkt) != 576 {
		t.Errorf("reply at the limit: %d bytes, %v", len(pkt), err)
	}
	// Option 57 raises the limit.
	req.SetMaxMessageSize(1500)
	resp.Options.Set(OptVendorSpecific, make([]byte, 1000))
	if _, err := frameReply(buf, &resp, &req, r, srv, 1, 1500); err != nil {
		t.Errorf("option 57 = 1500: %v", err)
	}
	// Option 57 below 576 is illegal and ignored.
	req.SetMaxMessageSize(300)
	if _, err := frameReply(buf, &resp, &req, r, srv, 1, 1500); err == nil {
		t.Error("option 57 = 300 must fall back to 576")
	}
	// A bad option in the store surfaces as ErrMalformed, nothing is sent.
	resp.Options.Set(OptPad, []byte{1})
	if _, err := frameReply(buf, &resp, &req, r, srv, 1, 1500); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad option: %v", err)
	}
}

func TestFilter(t *testing.T) {
	prog, err := filter([]uint16{67, 4011})
	if err != nil {
		t.Fatal(err)
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("disassemble")
	}
	// x/net/bpf's VM knows no pkt_type extension: check that prefix by hand, run the rest.
	if insns[0] != (bpf.LoadExtension{Num: bpf.ExtType}) || insns[1].(bpf.JumpIf).Val != 4 || insns[1].(bpf.JumpIf).SkipTrue != uint8(len(insns)-4) {
		t.Fatalf("outgoing-frame prefix: %v %v", insns[0], insns[1])
	}
	vm, err := bpf.NewVM(insns[2:])
	if err != nil {
		t.Fatal(err)
	}
	mk := func(dport uint16, proto byte, frag bool) []byte {
		pkt, err := AppendIPv4UDP(nil, IPv4UDP{Src: netip.MustParseAddrPort("0.0.0.0:68"), Dst: netip.AddrPortFrom(limitedBroadcast, dport)}, make([]byte, 300))
		if err != nil {
			t.Fatal(err)
		}
		pkt[9] = proto
		if frag {
			pkt[7] = 1
		}
		return pkt
	}
	withOptions := func(dport uint16) []byte {
		// IHL 6: one 4-byte IP option before UDP, so the port sits at offset 26.
		p := mk(dport, 17, false)
		out := append(append(append([]byte{}, p[:20]...), 1, 1, 1, 0), p[20:]...)
		out[0] = 0x46
		return out
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"udp 67", mk(67, 17, false), true},
		{"udp 4011", mk(4011, 17, false), true},
		{"udp 68", mk(68, 17, false), false},
		{"tcp 67", mk(67, 6, false), false},
		{"fragment", mk(67, 17, true), false},
		{"ip options, 67", withOptions(67), true},
		{"ip options, 53", withOptions(53), false},
	} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.want {
			t.Errorf("%s: accepted %d bytes, want accept=%v", tc.name, n, tc.want)
		}
	}
	if _, err := filter(nil); err == nil {
		t.Error("no ports accepted")
	}
}

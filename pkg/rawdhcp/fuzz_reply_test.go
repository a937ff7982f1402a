package rawdhcp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzRouteFrameReply: for any request (as received, with its packet info) and reply,
// routing follows RFC 2131 §4.1's invariants and a framed reply is a valid IPv4/UDP
// datagram to the route's destination, within the client's limit, carrying the reply.
func FuzzRouteFrameReply(f *testing.F) {
	for _, p := range goldenPayloads(f) {
		f.Add(p, p, []byte{10, 30, 0, 77}, uint16(68), uint16(67), uint16(1500))
	}
	f.Fuzz(func(t *testing.T, reqB, respB, src []byte, sport, dport, mtu uint16) {
		var req, resp Message
		if req.Decode(reqB) != nil || resp.Decode(respB) != nil || len(src) != 4 {
			return
		}
		info := PacketInfo{
			Src:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(src)), sport),
			Dst:    netip.AddrPortFrom(netip.MustParseAddr("10.30.0.1"), dport),
			SrcMAC: MAC{2, 0, 0, 0, 0, 1},
		}
		r := routeReply(&resp, &req, &info)
		switch {
		case r.srcPort == 0:
			t.Fatal("no source port")
		case r.relay && (r.dst != netip.AddrPortFrom(req.GIAddr, ServerPort) || !unicast(req.GIAddr)):
			t.Fatalf("relay route %v for giaddr %v", r.dst, req.GIAddr)
		case !r.relay && r.dst.Port() != ClientPort && r.dst != info.Src:
			t.Fatalf("route to %v: neither the client port nor the sender", r.dst)
		case !r.relay && r.dst.Addr() == limitedBroadcast && r.dstMAC != BroadcastMAC:
			t.Fatalf("broadcast address to MAC %v", r.dstMAC)
		}
		m := max(int(mtu), 64)
		buf := make([]byte, max(m, 1500))
		pkt, err := frameReply(buf, &resp, &req, r, info.Dst.Addr(), 7, m)
		if err != nil {
			return
		}
		payload := pkt
		if !r.relay {
			h, p, err := ParseIPv4UDP(pkt)
			if err != nil {
				t.Fatalf("framed reply does not parse: %v", err)
			}
			if h.Dst != r.dst || h.Src != netip.AddrPortFrom(info.Dst.Addr(), r.srcPort) {
				t.Fatalf("framed %v → %v, route %v → %v", h.Src, h.Dst, r.srcPort, r.dst)
			}
			payload = p
		}
		if len(payload) < MinReplyLen || len(payload) > m-IPv4UDPHeaderLen || !r.relay && len(payload) > req.ReplyLimit() {
			t.Fatalf("payload of %d bytes (mtu %d, client limit %d)", len(payload), m, req.ReplyLimit())
		}
		var back Message
		if err := back.Decode(payload); err != nil {
			t.Fatalf("framed reply does not decode: %v", err)
		}
		want, _ := resp.Append(nil)
		if !bytes.Equal(payload[:len(want)], want) {
			t.Fatal("framed payload is not the encoded reply")
		}
	})
}

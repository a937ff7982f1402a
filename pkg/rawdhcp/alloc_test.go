package rawdhcp

import (
	"net/netip"
	"testing"
	"time"
)

// TestHotPathAllocs pins the zero-allocation promise (a count, not a timing): a warmed
// Message decodes every golden packet, and a reply is built, framed and checked, without
// allocating.
func TestHotPathAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocation counts")
	}
	payloads := goldenPayloads(t)
	var req, resp Message
	buf := make([]byte, 1500)
	srv := netip.MustParseAddr("10.30.0.1")
	var archs []uint16
	var params []OptionCode
	var classes [][]byte
	run := func() {
		for _, p := range payloads {
			if err := req.Decode(p); err != nil {
				t.Fatal(err)
			}
			archs, _ = req.ClientArchs(archs[:0])
			params = req.AppendParams(params[:0])
			classes = req.UserClasses(classes[:0])
			resp.InitReply(&req, Offer)
			resp.YIAddr = netip.AddrFrom4([4]byte{10, 30, 0, 50})
			resp.SIAddr = srv
			resp.SetServerID(srv)
			resp.SetLeaseTime(time.Hour)
			resp.SetRenewalTime(30 * time.Minute)
			resp.SetRebindingTime(52 * time.Minute)
			resp.SetSubnetMask(24)
			resp.SetRouters(srv)
			resp.SetDNSServers(srv, srv)
			resp.SetVendorClass("PXEClient")
			resp.SetBootFileName("undionly.kpxe")
			if id, ok := req.ClientMachineID(); ok {
				resp.SetClientMachineID(id)
			}
			r := routeReply(&resp, &req, &PacketInfo{Dst: netip.AddrPortFrom(limitedBroadcast, ServerPort)})
			pkt, err := frameReply(buf, &resp, &req, r, srv, 1, len(buf))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := ParseIPv4UDP(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	run() // warm the option stores and scratch slices
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per pass over %d packets, want 0", n, len(payloads))
	}
}

// BenchmarkDecodeGolden decodes each real client's DISCOVER into one reused Message.
//
//	go test ./pkg/rawdhcp -run '^$' -bench 'Decode|Append|Exchange' -benchmem
func BenchmarkDecodeGolden(b *testing.B) {
	payloads := goldenPayloads(b)
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range payloads {
			if err := m.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(payloads)), "ns/packet")
}

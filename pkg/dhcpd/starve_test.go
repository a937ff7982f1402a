package dhcpd

import (
	"context"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// A flood of DISCOVERs from new MACs takes every free address as an offer; a real client,
// which asks again, then gets the oldest offer nobody REQUESTed and its lease, while a MAC
// asking once gets nothing. Bound leases are never taken.
func TestStarvationFloodRealClientGetsLease(t *testing.T) {
	cfg := testConfig() // 10 addresses
	s, clk := newTestServer(t, cfg)
	held := dora(t, s, mac(200))
	for i := 0; i < 9; i++ {
		if r, _ := do(t, s, request(rawdhcp.Discover, [6]byte{0x02, 0xf1, 0, 0, 0, byte(i)}), 67); r != ReplyOffer {
			t.Fatalf("flood DISCOVER %d: %v, want OFFER while addresses are free", i, r)
		}
	}
	// The pool is spoken for. A new MAC asking once: nothing.
	for i := 0; i < 100; i++ {
		if r, _ := do(t, s, request(rawdhcp.Discover, [6]byte{0x02, 0xf2, 0, 0, byte(i >> 8), byte(i)}), 67); r != NoReply {
			t.Fatalf("flood DISCOVER from a new MAC on a full pool: %v", r)
		}
	}
	real := mac(7)
	if r, _ := do(t, s, request(rawdhcp.Discover, real), 67); r != NoReply {
		t.Fatalf("first DISCOVER of the real client on a full pool: %v, want none", r)
	}
	clk.Add(3 * time.Second) // its retransmission
	r, off := do(t, s, request(rawdhcp.Discover, real), 67)
	if r != ReplyOffer || off.YIAddr == held {
		t.Fatalf("retransmitted DISCOVER: %v %v, want an OFFER of another client's unrequested offer", r, off.YIAddr)
	}
	ip := off.YIAddr
	r, ack := do(t, s, request(rawdhcp.Request, real, withServerID(tServer), withRequested(ip.String())), 67)
	if r != ReplyAck || ack.YIAddr != ip {
		t.Fatalf("REQUEST: %v %v", r, ack.YIAddr)
	}
	if s.Stats().Stolen != 1 {
		t.Fatalf("Stolen = %d, want 1", s.Stats().Stolen)
	}
	// The bound lease was never a candidate: its holder renews.
	if r, _ := do(t, s, request(rawdhcp.Request, mac(200), withRequested(held.String())), 67); r != ReplyAck {
		t.Fatalf("the bound client's renewal: %v", r)
	}
}

// The offer queue stays bounded however many offers are made and replaced.
func TestOfferQueueBounded(t *testing.T) {
	cfg := testConfig()
	s, clk := newTestServer(t, cfg)
	for i := 0; i < 20000; i++ {
		do(t, s, request(rawdhcp.Discover, [6]byte{0x02, 0xf3, 0, byte(i >> 16), byte(i >> 8), byte(i)}), 67)
		if i%100 == 0 {
			clk.Add(time.Minute) // offers expire, addresses free up, new offers queue
		}
	}
	if n := len(s.addr.pool.offerQ); n > 4*256+1 {
		t.Fatalf("offerQ holds %d entries for a 10-address pool", n)
	}
}

// BenchmarkDiscoverFloodFullPool is one DISCOVER from a new MAC against a pool with nothing
// free: the filter note and the failed pick, O(1).
func BenchmarkDiscoverFloodFullPool(b *testing.B) {
	cfg := testConfig()
	s, _ := newTestServer(b, cfg)
	for i := 0; i < 10; i++ {
		do(b, s, request(rawdhcp.Discover, [6]byte{0x02, 0xf4, 0, 0, 0, byte(i)}), 67)
	}
	req := request(rawdhcp.Discover, mac(1))
	var resp rawdhcp.Message
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.CHAddr[3], req.CHAddr[4], req.CHAddr[5] = byte(i>>16), byte(i>>8), byte(i)
		s.Handle(ctx, req, 67, &resp)
	}
}

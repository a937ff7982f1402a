package dhcpd

import (
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// floodMAC is the i-th MAC of a flood of fresh, never repeated addresses.
func floodMAC(i int) [6]byte { return [6]byte{0x0a, 0xf1, 0, byte(i >> 16), byte(i >> 8), byte(i)} }

// limitedBy runs req through s and reports whether the rate limiter dropped it.
func limitedBy(t *testing.T, s *Server, req *rawdhcp.Message) bool {
	t.Helper()
	before := s.Stats().RateLimited
	do(t, s, req, 67)
	return s.Stats().RateLimited != before
}

// TestRateLimitFloodOfNewMACs: 20 000 fresh MACs a second for three seconds must not starve
// a new client that retries once every 200 ms, a lease holder that renews or a reserved
// client, and a single spammer in the flood stays limited.
func TestRateLimitFloodOfNewMACs(t *testing.T) {
	cfg := testConfig()
	cfg.RatePerMAC, cfg.RateBurst = DefaultRatePerMAC, DefaultRateBurst
	resv, err := ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.60"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reservations = resv
	s, clk := newTestServer(t, cfg)
	holder := mac(1)
	ip := dora(t, s, holder)
	clk.Add(10 * time.Minute) // long idle: its bucket is no fresher than the flood's

	const perSec, secs = 20000, 3
	step := time.Second / perSec
	newcomer, reserved, spammer := mac(2), mac(9), mac(3)
	var passed = map[string]int{}
	var sent = map[string]int{}
	try := func(name string, req *rawdhcp.Message) {
		sent[name]++
		if !limitedBy(t, s, req) {
			passed[name]++
		}
	}
	for i := range perSec * secs {
		clk.Add(step)
		do(t, s, request(rawdhcp.Discover, floodMAC(i)), 67)
		if i < perSec/2 {
			continue // the others start once the flood has filled the limiter's table
		}
		if i%10 == 0 {
			try("spammer", request(rawdhcp.Discover, spammer))
		}
		if i%(perSec/5) == 0 {
			try("newcomer", request(rawdhcp.Discover, newcomer))
			try("reserved", request(rawdhcp.Discover, reserved))
			try("holder", request(rawdhcp.Request, holder, withCIAddr(ip.String())))
		}
	}
	for _, who := range []string{"newcomer", "reserved", "holder"} {
		if passed[who] != sent[who] {
			t.Errorf("%s: %d of %d requests passed the rate limiter during the flood", who, passed[who], sent[who])
		}
	}
	// The spammer sent 2 000 a second: its own bucket (burst + rate × time) bounds it.
	if max := DefaultRateBurst + DefaultRatePerMAC*secs + 1; passed["spammer"] > max || passed["spammer"] < DefaultRateBurst {
		t.Errorf("spammer: %d of %d passed, want %d..%d", passed["spammer"], sent["spammer"], DefaultRateBurst, max)
	}
}

// TestLRUBuckets checks the table's eviction order and bound.
func TestLRUBuckets(t *testing.T) {
	l := newLRUBuckets(3)
	for i := range 3 {
		if _, fresh := l.get(floodMAC(i)); !fresh {
			t.Fatalf("%d: not fresh", i)
		}
	}
	if _, fresh := l.get(floodMAC(0)); fresh { // 0 is now the most recent; 1 the least
		t.Fatal("0 forgotten")
	}
	l.get(floodMAC(3)) // evicts 1
	if _, ok := l.peek(floodMAC(1)); ok {
		t.Fatal("least recently used entry kept")
	}
	for _, i := range []int{0, 2, 3} {
		if _, ok := l.peek(floodMAC(i)); !ok {
			t.Fatalf("%d evicted", i)
		}
	}
	if l.len() != 3 {
		t.Fatalf("len %d", l.len())
	}
	for i := range 1000 {
		l.get(floodMAC(100 + i))
	}
	if l.len() != 3 || len(l.ent) != 3 {
		t.Fatalf("table grew to %d/%d", l.len(), len(l.ent))
	}
	// The chain still holds exactly the three most recent, newest first.
	n, want := 0, 1099
	for i := l.head; i >= 0; i = l.ent[i].next {
		if l.ent[i].mac != floodMAC(want) {
			t.Fatalf("chain position %d: %x, want %x", n, l.ent[i].mac, floodMAC(want))
		}
		n++
		want--
	}
	if n != 3 {
		t.Fatalf("chain of %d", n)
	}
}

// BenchmarkRateLimiterFlood is the limiter's cost per packet once its table is full of a
// flood's MACs and every packet brings a new one.
func BenchmarkRateLimiterFlood(b *testing.B) {
	r := newRateLimiter(DefaultRatePerMAC, DefaultRateBurst)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 * rateUnknownMax {
		r.allow(floodMAC(i), false, now)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(50 * time.Microsecond)
		r.allow(floodMAC(2*rateUnknownMax+i), false, now)
	}
}

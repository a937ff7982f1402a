package rawdhcp

import (
	"testing"
	"time"
)

func macN(n int) MAC { return MAC{0x52, 0x54, 0, byte(n >> 16), byte(n >> 8), byte(n)} }

func TestAllowList(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		op   string // add, has, not, del, take, limited
		mac  int
		at   time.Duration
		want int // for len: expected Len
	}
	cases := []struct {
		name  string
		cap   int
		ttl   time.Duration
		steps []step
	}{
		{"add and expire", 4, time.Minute, []step{
			{op: "not", mac: 1},
			{op: "add", mac: 1},
			{op: "has", mac: 1, at: 59 * time.Second},
			{op: "not", mac: 1, at: time.Minute},
			{op: "len", want: 0, at: time.Minute},
		}},
		{"re-add extends", 4, time.Minute, []step{
			{op: "add", mac: 1},
			{op: "add", mac: 1, at: 50 * time.Second},
			{op: "has", mac: 1, at: 100 * time.Second},
			{op: "len", want: 1},
		}},
		{"full list drops the oldest insert", 3, time.Hour, []step{
			{op: "add", mac: 1}, {op: "add", mac: 2}, {op: "add", mac: 3},
			{op: "add", mac: 1}, // already held: keeps its place
			{op: "add", mac: 4},
			{op: "not", mac: 1}, {op: "has", mac: 2}, {op: "has", mac: 3}, {op: "has", mac: 4},
			{op: "add", mac: 5},
			{op: "not", mac: 2}, {op: "has", mac: 5},
			{op: "len", want: 3},
		}},
		{"a removed MAC's slot is reused without pushing out a live one", 2, time.Hour, []step{
			{op: "add", mac: 1}, {op: "add", mac: 2},
			{op: "del", mac: 1},
			{op: "not", mac: 1},
			{op: "add", mac: 1}, // takes slot 0, the ghost of its old self
			{op: "has", mac: 1}, {op: "has", mac: 2},
			{op: "add", mac: 3}, // slot 1: 2 is now the oldest insert
			{op: "has", mac: 1}, {op: "not", mac: 2}, {op: "has", mac: 3},
			{op: "len", want: 2},
		}},
		{"take rate-limits per MAC", 4, time.Hour, []step{
			{op: "limited", mac: 1}, // not allowed at all
			{op: "add", mac: 1},
			{op: "take", mac: 1},
			{op: "limited", mac: 1, at: 500 * time.Millisecond},
			{op: "take", mac: 1, at: time.Second},
			{op: "add", mac: 1, at: 1100 * time.Millisecond}, // re-adding keeps the last send
			{op: "limited", mac: 1, at: 1500 * time.Millisecond},
			{op: "take", mac: 1, at: 2500 * time.Millisecond},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewAllowList(c.cap, c.ttl)
			for i, s := range c.steps {
				now := t0.Add(s.at)
				m := macN(s.mac)
				switch s.op {
				case "add":
					l.Add(m, now)
				case "del":
					l.Remove(m)
				case "has", "not":
					if got := l.Contains(m, now); got != (s.op == "has") {
						t.Errorf("step %d: Contains(%d) = %v", i, s.mac, got)
					}
				case "take", "limited":
					if got := l.take(m, now, time.Second); got != (s.op == "take") {
						t.Errorf("step %d: take(%d) = %v", i, s.mac, got)
					}
				case "len":
					if got := l.Len(); got != s.want {
						t.Errorf("step %d: Len = %d, want %d", i, got, s.want)
					}
				}
			}
		})
	}
}

// A flood of distinct MACs keeps the list at its capacity, and the newest ones are held.
func TestAllowListFloodBounded(t *testing.T) {
	l := NewAllowList(64, time.Hour)
	now := time.Unix(1, 0)
	for i := range 100_000 {
		l.Add(macN(i), now)
	}
	if l.Len() != 64 {
		t.Fatalf("Len = %d after a flood, want 64", l.Len())
	}
	for i := 100_000 - 64; i < 100_000; i++ {
		if !l.Contains(macN(i), now) {
			t.Fatalf("newest MAC %d not held", i)
		}
	}
	if l.Contains(macN(0), now) {
		t.Fatal("oldest MAC still held")
	}
	if n := testing.AllocsPerRun(1000, func() { l.Add(macN(7), now); _ = l.Contains(macN(7), now) }); n != 0 {
		t.Errorf("%v allocations per Add+Contains on a full list", n)
	}
}

func BenchmarkAllowListFlood(b *testing.B) {
	l := NewAllowList(1024, time.Hour)
	now := time.Unix(1, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Add(macN(i), now)
		_ = l.Contains(macN(i/2), now)
		i++
	}
}

package tftp

import (
	"net/netip"
	"strconv"
	"testing"
)

// transferAllocs returns the heap allocations of one whole transfer of name (server and
// test client together, both in this process).
func transferAllocs(t testing.TB, srv netip.AddrPort, name string, opts []Option) float64 {
	c := newTestClient(clientConn(t))
	return testing.AllocsPerRun(2, func() {
		if _, err := c.get(srv, name, "octet", opts...); err != nil {
			t.Fatal(err)
		}
	})
}

// TestZeroAllocsPerBlock shows the steady-state send path allocates nothing per DATA block:
// a transfer of 2000 blocks allocates no more than one of 40 blocks (what remains is per
// transfer: request parsing, the socket, the file, events and the log line).
func TestZeroAllocsPerBlock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "small", 40*1024)
	writeFile(t, dir, "large", 2000*1024)
	_, srv := startServer(t, dir, nil)
	for _, o := range [][]Option{
		{opt("blksize", 1024)},
		{opt("blksize", 1024), opt("windowsize", 8)},
	} {
		small := transferAllocs(t, srv, "small", o)
		large := transferAllocs(t, srv, "large", o)
		perBlock := (large - small) / (2000 - 40)
		t.Logf("opts %v: %.0f allocs for 40 blocks, %.0f for 2000 blocks: %.4f per block", o, small, large, perBlock)
		// A handful of allocations may come from the runtime (timers, the poller) during
		// the longer run; one per hundred blocks would already be a per-block cost.
		if large-small > 8 {
			t.Fatalf("steady state allocates: %.0f extra allocations for 1960 extra blocks", large-small)
		}
	}
}

// BenchmarkTransfer measures whole in-process transfers over loopback; -benchmem shows the
// per-transfer allocations, and allocs/block the steady-state cost.
func BenchmarkTransfer(b *testing.B) {
	dir := b.TempDir()
	const size = 4 << 20
	writeFile(b, dir, "f", size)
	_, srv := startServer(b, dir, nil)
	for _, tc := range []struct {
		blk, win int
	}{{512, 1}, {1468, 1}, {1468, 4}, {1468, 16}, {8192, 8}} {
		b.Run("blksize="+strconv.Itoa(tc.blk)+"/window="+strconv.Itoa(tc.win), func(b *testing.B) {
			c := newTestClient(clientConn(b))
			opts := []Option{opt("blksize", tc.blk), opt("windowsize", tc.win)}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.get(srv, "f", "octet", opts...); err != nil {
					b.Fatal(err)
				}
			}
			blocks := float64(size/tc.blk + 1)
			b.ReportMetric(blocks, "blocks/op")
		})
	}
}

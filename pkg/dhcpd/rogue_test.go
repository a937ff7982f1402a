package dhcpd

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// TestRoguePersistence: a server seen once, or seen several times within a moment, or
// twice with a long silence between, has not persisted; one that keeps answering has.
func TestRoguePersistence(t *testing.T) {
	const hold = 5 * time.Second
	other := netip.MustParseAddr("10.40.0.2")
	hw := net.HardwareAddr{2, 0x40, 0, 0, 7, 2}
	tests := []struct {
		name string
		gaps []time.Duration // before each sighting
		want bool
	}{
		{"one spoofed OFFER", []time.Duration{0}, false},
		{"OFFER and ACK of one exchange", []time.Duration{0, 10 * time.Millisecond}, false},
		{"burst", []time.Duration{0, time.Millisecond, time.Millisecond, time.Millisecond}, false},
		{"answers for six seconds", []time.Duration{0, 2 * time.Second, 2 * time.Second, 2 * time.Second}, true},
		{"two sightings hold apart", []time.Duration{0, hold}, true},
		{"silent for longer than a run", []time.Duration{0, rogueForget + time.Second}, false},
		{"new run after silence", []time.Duration{0, rogueForget, time.Second, hold}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newTestServer(t, testConfig())
			for _, g := range tt.gaps {
				clk.Add(g)
				s.SawServer(other, hw, rawdhcp.Offer)
			}
			rs := s.Rogues()
			if len(rs) != 1 || rs[0].Count != uint64(len(tt.gaps)) || !rs[0].Last.Equal(clk.Now()) {
				t.Fatalf("rogues %+v", rs)
			}
			if got := rs[0].Persistent(hold); got != tt.want {
				t.Errorf("Persistent = %v, want %v (%+v)", got, tt.want, rs[0])
			}
		})
	}
}

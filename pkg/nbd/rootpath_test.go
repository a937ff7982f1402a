package nbd

import (
	"net/netip"
	"testing"
)

func TestRootPath(t *testing.T) {
	tests := []struct {
		addr   string
		port   uint16
		export string
		want   string
	}{
		{"10.0.0.1", 10809, "root.img", "10.0.0.1:10809/root.img"},
		{"::ffff:10.0.0.1", 10809, "lab/pi.img", "10.0.0.1:10809/lab/pi.img"},
		{"fd00::1", 10810, "root.img", "[fd00::1]:10810/root.img"},
	}
	for _, tt := range tests {
		if got := RootPath(netip.MustParseAddr(tt.addr), tt.port, tt.export); got != tt.want {
			t.Errorf("RootPath(%s, %d, %q) = %q, want %q", tt.addr, tt.port, tt.export, got, tt.want)
		}
	}
}

package lease

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	s, rep, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	mac := net.HardwareAddr{1, 2, 3, 4, 5, 6}
	if err := s.Commit(context.Background(), Lease{MAC: mac, IP: netip.MustParseAddr("10.0.0.5"), Expiry: time.Now().Add(time.Hour), Hostname: "pi 4\t%", State: Bound}); err != nil {
		t.Fatal(err)
	}
	s.Touch(mac, time.Now().Add(2*time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rep, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	l, ok := s.Get(mac)
	t.Logf("%+v %v", l, ok)
	s.Close()
}

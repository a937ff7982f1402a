package dhcpd

import (
	"context"
	"testing"
)

// FuzzPyPXELeases: the --save-leases loader never panics, adopts only addresses the
// server may give (pool or the MAC's reservation), keeps the table consistent, commits
// every adopted lease, and adopts nothing the second time.
func FuzzPyPXELeases(f *testing.F) {
	cfg := testConfig()
	cfg.Reservations, _ = ParseReservations([]byte(`{"dhcp":{"binding":{"02:00:00:00:00:09":{"ipaddr":"10.40.0.50"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newMemStore()
		c := cfg
		c.Store = st
		s, _ := newTestServer(t, c)
		n, err := s.adoptPyPXELeases(context.Background(), data)
		if err != nil && n != 0 {
			t.Fatalf("%d adopted and error %v", n, err)
		}
		if len(st.leases) != n || len(s.addr.pool.byIP) != n {
			t.Fatalf("%d adopted, %d committed, %d in the table", n, len(st.leases), len(s.addr.pool.byIP))
		}
		for ip, b := range s.addr.pool.byIP {
			_, reserved := s.addr.pool.reserved[ip]
			if b.ip != ip || s.addr.pool.byID[b.id] != b || b.state != stBound || !s.addr.pool.inRange(ip) && !reserved {
				t.Fatalf("row %v: %+v", a4(ip), b)
			}
			if l, ok := st.leases[a4(ip)]; !ok || [6]byte(l.MAC) != b.mac || !l.Expiry.Equal(b.expires) {
				t.Fatalf("committed %+v for row %+v", l, b)
			}
		}
		if again, _ := s.adoptPyPXELeases(context.Background(), data); again != 0 {
			t.Fatalf("second load adopted %d", again)
		}
	})
}

package dhcpd

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// checkBound fails unless p.bound has a bit set exactly for the range's addresses with a
// bound row, and p.taken for those with any row or a reservation.
func checkBound(t *testing.T, p *pool, step int) {
	t.Helper()
	for off := range uint32(p.size()) {
		ip := p.begin + off
		b := p.byIP[ip]
		want := b != nil && b.state == stBound
		got := p.bound[off/64]&(1<<(off%64)) != 0
		if got != want {
			t.Fatalf("step %d: %s bound bit %v, row %+v", step, a4(ip), got, b)
		}
		_, reserved := p.reserved[ip]
		want = b != nil || reserved
		got = p.taken[off/64]&(1<<(off%64)) != 0
		if got != want {
			t.Fatalf("step %d: %s taken bit %v, row %+v, reserved %v", step, a4(ip), got, b, reserved)
		}
	}
}

// TestPoolBoundBits drives the pool through random changes (offers, leases, declines,
// conflicts, releases, drops, failed commits) and checks after each that the bitmap the
// free scan relies on agrees with the rows.
func TestPoolBoundBits(t *testing.T) {
	p := newPool(netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.209")) // 200: 4 words, last partial
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1_700_000_000, 0)
	for step := range 20000 {
		ip := p.begin - 3 + uint32(rng.IntN(p.size()+6)) // a few outside the range too
		mac := [6]byte{2, 0, 0, 0, byte(rng.IntN(4)), byte(rng.IntN(64))}
		id := macKey(mac[:])
		switch rng.IntN(7) {
		case 0, 1:
			p.set(ip, id, mac, "", stBound, now.Add(time.Hour))
		case 2:
			p.set(ip, id, mac, "", stOffered, now.Add(time.Minute))
		case 3:
			p.mark(ip, []bindState{stDeclined, stConflict}[rng.IntN(2)], now.Add(time.Minute))
		case 4:
			if b := p.byIP[ip]; b != nil {
				if rng.IntN(2) == 0 {
					p.drop(b)
				} else {
					p.unoffer(b, now.Add(time.Minute))
				}
			}
		case 5:
			if b := p.byIP[ip]; b != nil {
				p.release(ip, b.id, now)
			}
		case 6:
			if rng.IntN(50) == 0 { // a SIGHUP with new reservations, now and then
				r := &Reservations{byMAC: map[[6]byte]Reservation{}}
				for i := range rng.IntN(8) {
					m := [6]byte{2, 5, 0, 0, 0, byte(i)}
					r.byMAC[m] = Reservation{MAC: m, IP: a4(p.begin - 2 + uint32(rng.IntN(p.size()+4)))}
				}
				p.setReserved(r)
			}
		}
		checkBound(t, p, step)
	}
}

// TestPickSkipsBoundAddresses: with the first addresses leased and one in the middle
// offered to someone else, a new client gets the first address nobody holds, and the scan
// hint has moved past the leased run.
func TestPickSkipsBoundAddresses(t *testing.T) {
	p := newPool(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.1.0")) // 256
	now := time.Unix(1_700_000_000, 0)
	for i := range uint32(150) {
		mac := [6]byte{2, 1, 0, 0, byte(i >> 8), byte(i)}
		p.set(p.begin+i, macKey(mac[:]), mac, "", stBound, now.Add(time.Hour))
	}
	other := [6]byte{2, 2, 0, 0, 0, 1}
	p.set(p.begin+150, macKey(other[:]), other, "", stOffered, now.Add(time.Minute))
	mac := [6]byte{2, 3, 0, 0, 0, 1}
	// Take the hash's address first, so the pick must scan.
	h := p.begin + macHash(mac)%uint32(p.size())
	if h-p.begin > 150 {
		blocker := [6]byte{2, 4, 0, 0, 0, 1}
		p.set(h, macKey(blocker[:]), blocker, "", stBound, now.Add(time.Hour))
	}
	r := p.pick(macKey(mac[:]), mac, netip.Addr{}, netip.Addr{}, now, nil)
	want := p.begin + 151
	if h == want {
		want++
	}
	if !r.ok || r.ip != want {
		t.Fatalf("pick = %s ok=%v, want %s", a4(r.ip), r.ok, a4(want))
	}
	if p.hint != 150 {
		t.Fatalf("hint = %d, want 150 (past the leased run, at the offer)", p.hint)
	}
}

// BenchmarkPickFillingPool is a new client's address choice in a pool of 64 000 addresses
// that is 90 % leased: the case of a whole lab booting at once.
func BenchmarkPickFillingPool(b *testing.B) {
	p := newPool(netip.MustParseAddr("10.91.1.1"), netip.MustParseAddr("10.91.250.254"))
	now := time.Unix(1_700_000_000, 0)
	n := uint32(p.size()) * 9 / 10
	for i := range n {
		mac := [6]byte{2, 1, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		p.set(p.begin+i, macKey(mac[:]), mac, "", stBound, now.Add(time.Hour))
	}
	mac := [6]byte{2, 9, 0, 0, 0, 1}
	h := p.begin + macHash(mac)%uint32(p.size())
	if h-p.begin >= n {
		p.set(h, "x", [6]byte{2, 8}, "", stBound, now.Add(time.Hour)) // the hash is taken
	}
	id := macKey(mac[:])
	b.ReportAllocs()
	for b.Loop() {
		p.hint = 0 // as after a release low in the range
		if r := p.pick(id, mac, netip.Addr{}, netip.Addr{}, now, nil); !r.ok {
			b.Fatal("no address")
		}
	}
}

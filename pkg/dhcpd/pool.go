package dhcpd

import (
	"math/bits"
	"net"
	"net/netip"
	"time"
)

// bindState is what an address in the table is doing.
type bindState uint8

const (
	stOffered  bindState = iota + 1 // set aside for a client that was sent an OFFER
	stBound                         // leased (ACKed); stays the client's after expiry until reclaimed
	stDeclined                      // a client DECLINEd it: someone else uses it
	stConflict                      // it answered our ARP probe
)

func (s bindState) String() string {
	switch s {
	case stOffered:
		return "offered"
	case stBound:
		return "bound"
	case stDeclined:
		return "declined"
	case stConflict:
		return "conflict"
	}
	return "unknown"
}

// binding is one row of the address table.
type binding struct {
	ip       uint32
	id       string // client identity: option 61 when sent, else htype+chaddr
	mac      [6]byte
	hostname string
	state    bindState
	expires  time.Time
	// provisional: a short lease committed at the OFFER (see offerCommitLease) that a
	// REQUEST has not yet made a full one.
	provisional bool
	ver         uint64 // pool.version when the row was last set: tells offerQ's stale entries
}

// offerRef is an address offered at pool version ver, in offerQ.
type offerRef struct {
	ip  uint32
	ver uint64
}

// pool is the address table: the dynamic range Begin..End plus reserved addresses (which
// may lie outside the range but inside the subnet). It is not safe for concurrent use; the
// Server guards it with its mutex.
type pool struct {
	begin, end uint32 // inclusive; end < begin means no dynamic range (proxy mode)
	byIP       map[uint32]*binding
	byID       map[string]*binding
	// reserved maps a reserved address to the MAC it belongs to. Reservations follow the
	// MAC even when the client identifies itself with option 61.
	reserved map[uint32][6]byte
	// hint is the lowest pool offset that the free scan has not proven to be bound.
	hint uint32
	// bound has a bit per pool offset, set while that address has a bound row: the free
	// scan steps over 64 of them per word instead of looking each up, which kept a filling
	// pool's DISCOVER cost growing with the number of leases.
	bound []uint64
	// taken has a bit per pool offset, set while the address has any row or is reserved:
	// the scan finds an address nobody has touched without a map lookup per address.
	taken []uint64
	// fullUntil caches "no address can be handed out before then" after a failed pick, so
	// a flood of new clients against a full pool costs O(1) each, not a table scan.
	fullUntil time.Time
	// version counts changes to the rows, so that a snapshot of the table can tell whether
	// it is still current.
	version uint64
	// block and spare supply new rows (see newBinding).
	block []binding
	spare []*binding
	// offerQ lists offers oldest first (entries go stale when their row changes), so that
	// stealOffer finds the oldest outstanding offer in O(1) amortised.
	offerQ    []offerRef
	offerHead int
}

func newPool(begin, end netip.Addr) *pool {
	p := &pool{byIP: make(map[uint32]*binding), byID: make(map[string]*binding), reserved: make(map[uint32][6]byte)}
	if begin.Is4() && end.Is4() {
		p.begin, p.end = u32(begin), u32(end)
	} else {
		p.begin, p.end = 1, 0
	}
	p.bound = make([]uint64, (p.size()+63)/64)
	p.taken = make([]uint64, (p.size()+63)/64)
	return p
}

// size is the number of addresses in the dynamic range.
func (p *pool) size() int {
	if p.end < p.begin {
		return 0
	}
	return int(p.end-p.begin) + 1
}

func (p *pool) inRange(ip uint32) bool { return ip >= p.begin && ip <= p.end }

// inUse counts pool addresses that are bound and unexpired, offered and unexpired, or out
// of service (declined/conflict), at time now.
func (p *pool) inUse(now time.Time) int {
	n := 0
	for ip, b := range p.byIP {
		if p.inRange(ip) && now.Before(b.expires) {
			n++
		}
	}
	return n
}

// free reports whether ip can be given to the client id without taking anything from
// anyone: not reserved for another client and not held (an expired offer, quarantine or
// conflict holds nothing; an expired lease still does until it is reclaimed).
func (p *pool) free(ip uint32, id string, mac [6]byte, now time.Time) bool {
	if r, ok := p.reserved[ip]; ok && r != mac {
		return false
	}
	b := p.byIP[ip]
	if b == nil || b.id == id && (b.state == stOffered || b.state == stBound) {
		return true
	}
	return b.state != stBound && !now.Before(b.expires)
}

// heldByOther reports whether another client actively holds ip (unexpired offer or lease).
func (p *pool) heldByOther(ip uint32, id string, now time.Time) bool {
	b := p.byIP[ip]
	return b != nil && b.id != id && now.Before(b.expires)
}

// pickResult is one candidate address.
type pickResult struct {
	ip    uint32
	probe bool // nobody holds a lease on it: ARP-probe before offering
	ok    bool
}

// pick returns the next candidate for a DISCOVER from id, in the documented order: the
// client's current binding, its reservation, the requested address (50), the MAC hash, the
// first free address, then the oldest expired lease. skip lists candidates already refused
// by a probe in this round. It changes nothing but the scan hint.
func (p *pool) pick(id string, mac [6]byte, resv netip.Addr, requested netip.Addr, now time.Time, skip []uint32) pickResult {
	skipped := func(ip uint32) bool {
		for _, s := range skip {
			if s == ip {
				return true
			}
		}
		return false
	}
	rip := uint32(0)
	if resv.Is4() {
		rip = u32(resv)
	}
	// A reservation is usable unless someone holds it right now (or it was declined or
	// found in use, which also holds it).
	resvUsable := rip != 0 && !skipped(rip) && !p.heldByOther(rip, id, now)
	// 1. The client's current binding, unless the administrator reserved it another usable
	// address meanwhile or gave this one to someone else.
	if b := p.byID[id]; b != nil && (b.state == stOffered || b.state == stBound) && !skipped(b.ip) {
		if (rip == 0 || rip == b.ip || !resvUsable) && (p.inRange(b.ip) || rip == b.ip) && p.free(b.ip, id, mac, now) {
			return pickResult{ip: b.ip, ok: true}
		}
	}
	// 2. Its reservation: never probed away (the administrator said so).
	if resvUsable {
		return pickResult{ip: rip, ok: true}
	}
	if p.size() == 0 {
		return pickResult{}
	}
	try := func(ip uint32) (pickResult, bool) {
		if !p.inRange(ip) || skipped(ip) || !p.free(ip, id, mac, now) {
			return pickResult{}, false
		}
		b := p.byIP[ip]
		return pickResult{ip: ip, ok: true, probe: b == nil || b.id != id}, true
	}
	// 3. The requested address.
	if requested.Is4() {
		if r, ok := try(u32(requested)); ok {
			return r
		}
	}
	if now.Before(p.fullUntil) {
		return pickResult{}
	}
	// 4. A stable hash of the MAC: the same client gets the same address after a restart
	// even when the lease file is gone.
	if r, ok := try(p.begin + macHash(mac)%uint32(p.size())); ok {
		return r
	}
	// 5. The first address nobody has a row for, then the first whose offer or quarantine
	// ran out. Bound addresses are never free here: the client's own binding was step 1,
	// and bound rows stay bound until an explicit event frees them.
	n := uint32(p.size())
	p.hint = nextClear(p.bound, p.hint, n)
	for off := nextClear(p.taken, p.hint, n); off < n; off = nextClear(p.taken, off+1, n) {
		if r, ok := try(p.begin + off); ok {
			return r
		}
	}
	for off := p.hint; off < n; off = nextClear(p.bound, off+1, n) {
		if r, ok := try(p.begin + off); ok {
			return r
		}
	}
	// 6. Reclaim the lease that expired longest ago.
	var oldest *binding
	next := time.Time{}
	for ip, b := range p.byIP {
		if !p.inRange(ip) || skipped(ip) {
			continue
		}
		if r, ok := p.reserved[ip]; ok && r != mac {
			continue
		}
		if now.Before(b.expires) {
			if next.IsZero() || b.expires.Before(next) {
				next = b.expires
			}
			continue
		}
		if oldest == nil || b.expires.Before(oldest.expires) {
			oldest = b
		}
	}
	if oldest != nil {
		return pickResult{ip: oldest.ip, ok: true, probe: true}
	}
	if len(skip) == 0 {
		p.fullUntil = next
	}
	return pickResult{}
}

// nextClear returns the first offset from off on (below n) whose bit in set is clear, or n.
func nextClear(set []uint64, off, n uint32) uint32 {
	for off < n {
		i := off / 64
		if w := ^set[i] >> (off % 64); w != 0 {
			return min(off+uint32(bits.TrailingZeros64(w)), n)
		}
		off = (i + 1) * 64
	}
	return n
}

// setBit sets or clears ip's bit in set, if ip is in the range.
func (p *pool) setBit(set []uint64, ip uint32, on bool) {
	if !p.inRange(ip) {
		return
	}
	off := ip - p.begin
	if on {
		set[off/64] |= 1 << (off % 64)
	} else {
		set[off/64] &^= 1 << (off % 64)
	}
}

// noteRow records ip's row (nil: none) in the bound and taken bitmaps.
func (p *pool) noteRow(ip uint32, b *binding) {
	p.setBit(p.bound, ip, b != nil && b.state == stBound)
	_, reserved := p.reserved[ip]
	p.setBit(p.taken, ip, b != nil || reserved)
}

// set binds ip to id in the given state until expires, replacing whatever either held.
func (p *pool) set(ip uint32, id string, mac [6]byte, hostname string, st bindState, expires time.Time) *binding {
	p.version++
	if old := p.byID[id]; old != nil && old.ip != ip {
		p.drop(old)
	}
	b := p.byIP[ip]
	if b != nil && b.id != id {
		p.drop(b)
		b = nil
	}
	if b == nil {
		b = p.newBinding(ip)
		p.byIP[ip] = b
	}
	b.id, b.mac, b.state, b.expires, b.provisional, b.ver = id, mac, st, expires, false, p.version
	p.noteRow(ip, b)
	if st == stOffered && p.inRange(ip) {
		p.queueOffer(offerRef{ip, b.ver})
	}
	if hostname != "" || st != stBound {
		b.hostname = hostname
	}
	if id != "" {
		p.byID[id] = b
	}
	return b
}

// queueOffer appends r to offerQ, dropping consumed and stale entries when the queue has
// grown past a few times the pool, so it stays bounded however many DISCOVERs come.
func (p *pool) queueOffer(r offerRef) {
	if p.offerHead >= 1024 && 2*p.offerHead >= len(p.offerQ) {
		n := copy(p.offerQ, p.offerQ[p.offerHead:])
		p.offerQ, p.offerHead = p.offerQ[:n], 0
	}
	if len(p.offerQ) >= 4*max(p.size(), 256) {
		kept := p.offerQ[:0]
		for _, e := range p.offerQ[p.offerHead:] {
			if b := p.byIP[e.ip]; b != nil && b.ver == e.ver && b.state == stOffered {
				kept = append(kept, e)
			}
		}
		p.offerQ, p.offerHead = kept, 0
	}
	p.offerQ = append(p.offerQ, r)
}

// stealOffer returns the pool address offered longest ago to a client other than id (and
// not reserved for another MAC), for a client that found nothing free: an offer only sets
// an address aside, and one the client never REQUESTed must not keep a returning client
// out. Offers come off the queue as they are looked at.
func (p *pool) stealOffer(id string, mac [6]byte) (uint32, bool) {
	for p.offerHead < len(p.offerQ) {
		e := p.offerQ[p.offerHead]
		p.offerHead++
		b := p.byIP[e.ip]
		if b == nil || b.ver != e.ver || b.state != stOffered || b.id == id {
			continue
		}
		if r, ok := p.reserved[e.ip]; ok && r != mac {
			continue
		}
		return e.ip, true
	}
	return 0, false
}

// mark takes ip out of service (declined or conflict) until expires.
func (p *pool) mark(ip uint32, st bindState, expires time.Time) {
	p.version++
	if b := p.byIP[ip]; b != nil {
		p.drop(b)
	}
	b := p.newBinding(ip)
	b.state, b.expires = st, expires
	p.byIP[ip] = b
	p.noteRow(ip, b)
}

// newBinding returns a zeroed row for ip: a dropped one when there is one, else the next of
// a block allocated bindingBlock rows at a time, so that a new lease costs no allocation of
// its own on the request path.
func (p *pool) newBinding(ip uint32) *binding {
	var b *binding
	if n := len(p.spare); n > 0 {
		b = p.spare[n-1]
		p.spare = p.spare[:n-1]
	} else {
		if len(p.block) == 0 {
			p.block = make([]binding, bindingBlock)
		}
		b = &p.block[0]
		p.block = p.block[1:]
	}
	*b = binding{ip: ip}
	return b
}

const bindingBlock = 256

// drop removes b from the table.
func (p *pool) drop(b *binding) {
	p.version++
	inIP := p.byIP[b.ip] == b
	if inIP {
		delete(p.byIP, b.ip)
		p.noteRow(b.ip, nil)
	}
	if b.id != "" && p.byID[b.id] == b {
		delete(p.byID, b.id)
	}
	if inIP && len(p.spare) < bindingBlock {
		// Nothing else holds b once it is out of byIP (callers hold rows only under the
		// server's mutex), so it can be reused; the id string goes with it.
		defer func() { *b = binding{}; p.spare = append(p.spare, b) }()
	}
	if p.inRange(b.ip) && b.ip-p.begin < p.hint {
		p.hint = b.ip - p.begin
	}
	p.fullUntil = time.Time{}
}

// unoffer turns b back into an offer held until until (its lease could not be made
// durable).
func (p *pool) unoffer(b *binding, until time.Time) {
	b.state, b.expires = stOffered, until
	p.noteRow(b.ip, b)
	p.version++
}

// release ends id's lease on ip now. The row stays so that the client gets the same address
// back if it returns before the address is reclaimed.
func (p *pool) release(ip uint32, id string, now time.Time) bool {
	b := p.byIP[ip]
	if b == nil || b.id != id {
		return false
	}
	b.expires = now
	p.version++
	p.fullUntil = time.Time{}
	return true
}

// setReserved replaces the reservation index.
func (p *pool) setReserved(r *Reservations) {
	p.version++
	old := p.reserved
	p.reserved = make(map[uint32][6]byte, r.Len())
	for _, e := range r.list() {
		p.reserved[u32(e.IP)] = e.MAC
	}
	for ip := range old {
		p.noteRow(ip, p.byIP[ip])
	}
	for ip := range p.reserved {
		p.noteRow(ip, p.byIP[ip])
	}
	p.fullUntil = time.Time{}
}

// macHash is FNV-1a over the MAC: stable across runs and builds.
func macHash(mac [6]byte) uint32 {
	h := uint32(2166136261)
	for _, c := range mac {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// macKey is the identity of a client that sends no option 61: htype 1 + chaddr, the
// same bytes an Ethernet client puts in option 61 by convention.
func macKey(mac net.HardwareAddr) string {
	var b [7]byte
	b[0] = 1
	copy(b[1:], mac)
	return string(b[:])
}

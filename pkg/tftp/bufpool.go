package tftp

// bufPool holds the packet buffers of a server's transfers, one per slot, carved from one
// slab that lives outside the Go heap where the platform allows (mapSlab): buffers the
// collector does not see do not raise its pacing target, and pages no transfer touches
// never count towards RSS (docs/bench/tftp.md).
//
// The slab's life is explicit, not left to the collector: it is mapped by the first get
// and unmapped by release only once every buffer is back and its owner has said that no
// Serve runs (Server.serving). A buffer is only ever reachable from the transfer that got
// it until that transfer puts it back, so nothing can touch an unmapped slab. All methods
// run under the owner's lock.
type bufPool struct {
	n, size int
	slab    []byte
	free    [][]byte
}

// get returns a free buffer; the caller has checked that one is free (a slot).
func (p *bufPool) get() []byte {
	if p.slab == nil {
		p.slab = mapSlab(p.n * p.size)
		p.free = make([][]byte, 0, p.n)
		for i := range p.n {
			p.free = append(p.free, p.slab[i*p.size:(i+1)*p.size:(i+1)*p.size])
		}
	}
	b := p.free[len(p.free)-1]
	p.free[len(p.free)-1] = nil
	p.free = p.free[:len(p.free)-1]
	return b
}

// put gives b back.
func (p *bufPool) put(b []byte) { p.free = append(p.free, b) }

// release unmaps the slab when every buffer is back; the next get maps a fresh one.
func (p *bufPool) release() {
	if p.slab == nil || len(p.free) < p.n {
		return
	}
	clear(p.free)
	p.free = p.free[:0]
	unmapSlab(p.slab)
	p.slab = nil
}

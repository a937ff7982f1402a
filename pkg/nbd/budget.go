package nbd

import "sync"

// budget is a weighted semaphore over the bytes of request buffers the whole server may hold
// at once, so many connections with many requests in flight stay within a fixed memory bound.
type budget struct {
	mu      sync.Mutex
	avail   int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n  int64
	ch chan struct{}
}

func newBudget(n int64) *budget { return &budget{avail: n} }

// acquire takes n bytes, waiting in FIFO order; it gives up (false) when done closes.
func (b *budget) acquire(n int64, done <-chan struct{}) bool {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.avail >= n {
		b.avail -= n
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ch: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ch:
		return true
	case <-done:
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ch:
			// Granted just now: hand it back.
			b.avail += n
			b.wake()
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.wake()
		}
		return false
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.avail += n
	b.wake()
	b.mu.Unlock()
}

// wake grants waiters from the head of the queue while they fit; b.mu is held.
func (b *budget) wake() {
	for len(b.waiters) > 0 && b.avail >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.avail -= w.n
		close(w.ch)
	}
}

// bufPool hands out request buffers in power-of-two size classes from 4 KiB to chunkSize.
type bufPool struct {
	classes [chunkShift - 12 + 1]sync.Pool
}

// chunkSize is the largest buffer one request holds; longer reads and writes are done in
// chunks of this size.
const (
	chunkShift = 20
	chunkSize  = 1 << chunkShift
)

func classOf(n int) int {
	c := 0
	for s := 4096; s < n; s <<= 1 {
		c++
	}
	return c
}

func (p *bufPool) get(n int) *[]byte {
	c := classOf(n)
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 4096<<c)
	return &b
}

func (p *bufPool) put(b *[]byte) { p.classes[classOf(len(*b))].Put(b) }

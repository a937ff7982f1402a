package dhcpd

import (
	"time"
)

// rateLimiter is a per-MAC token bucket: a client (or a flood spoofing many MACs) cannot
// make the server spend more than rate messages per second on it. The table is bounded: when
// it is full, stale buckets are dropped, and if none are stale the newcomer shares a single
// overflow bucket, so a flood of fresh MACs is limited as one client.
type rateLimiter struct {
	rate     float64 // tokens per second; <= 0 disables the limit
	burst    float64
	max      int
	buckets  map[[6]byte]*bucket
	overflow bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const rateTableMax = 4096

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), max: rateTableMax, buckets: make(map[[6]byte]*bucket)}
}

// allow spends one token for mac at now and reports whether there was one.
func (r *rateLimiter) allow(mac [6]byte, now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	b := r.buckets[mac]
	if b == nil {
		if len(r.buckets) >= r.max {
			r.sweep(now)
		}
		if len(r.buckets) >= r.max {
			b = &r.overflow
		} else {
			b = &bucket{tokens: r.burst, last: now}
			r.buckets[mac] = b
		}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * r.rate
		if b.tokens > r.burst {
			b.tokens = r.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops buckets that have refilled completely (idle long enough to be forgotten).
func (r *rateLimiter) sweep(now time.Time) {
	full := time.Duration(r.burst / r.rate * float64(time.Second))
	for k, b := range r.buckets {
		if now.Sub(b.last) >= full {
			delete(r.buckets, k)
		}
	}
}

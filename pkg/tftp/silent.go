package tftp

import (
	"net/netip"
	"time"
)

// Addresses whose transfer went unanswered are remembered for silentFor, at most silentMax
// of them: enough for a lab's worth of spoofed sources, bounded against a flood of them.
const (
	silentFor = 2 * time.Minute
	silentMax = 4096
)

// silentSet remembers client addresses that left a transfer unanswered, so their queued
// requests go after everyone else's. The caller serialises every call (Server.mu).
type silentSet struct {
	max   int
	since map[netip.Addr]time.Time
}

func (s *silentSet) init(max int) {
	s.max = max
	s.since = make(map[netip.Addr]time.Time)
}

// has reports whether a was silent within silentFor of now.
func (s *silentSet) has(a netip.Addr, now time.Time) bool {
	t, ok := s.since[a]
	return ok && now.Sub(t) < silentFor
}

// note records that a answered its transfer (forgetting it) or did not. When the set is
// full, expired entries are dropped first; if none has expired the address is not
// remembered (the set never grows past max).
func (s *silentSet) note(a netip.Addr, answered bool, now time.Time) {
	if answered {
		if len(s.since) > 0 {
			delete(s.since, a)
		}
		return
	}
	if _, ok := s.since[a]; !ok && len(s.since) >= s.max {
		for k, t := range s.since {
			if now.Sub(t) >= silentFor {
				delete(s.since, k)
			}
		}
		if len(s.since) >= s.max {
			return
		}
	}
	s.since[a] = now
}

// noteAnswered records how a transfer with client a ended.
func (s *Server) noteAnswered(a netip.Addr, answered bool) {
	s.mu.Lock()
	s.silent.note(a, answered, time.Now())
	s.mu.Unlock()
}

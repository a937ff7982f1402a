package profiles

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decision is what the menu builder needs for one client.
type Decision struct {
	// Profile is the matched profile's name, "" when none matched.
	Profile string `json:"profile,omitempty"`
	// Default is the entry booted when the timeout ends; Local means the local disk.
	Default string `json:"default"`
	// Timeout is how long the menu waits; 0 boots Default straight away.
	Timeout time.Duration `json:"timeout"`
	// Args are extra kernel arguments, templated with the client's sanitised facts.
	Args string `json:"args,omitempty"`
	// BootOnce is set when Default comes from a boot-once setting; the menu marks the
	// entry's first URL so the fetch consumes it.
	BootOnce bool `json:"boot_once,omitempty"`
}

// Match returns the most specific profile matching f (ties: the first in the file).
func (s *Set) Match(f Facts) (*Profile, bool) {
	mac := NormalizeMAC(f.MAC)
	best := -1
	for i := range s.Profiles {
		p := &s.Profiles[i]
		if !p.matches(mac, f) {
			continue
		}
		if best < 0 || p.specificity > s.Profiles[best].specificity {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return &s.Profiles[best], true
}

func (p *Profile) matches(mac string, f Facts) bool {
	if len(p.MACs) > 0 && !slices.Contains(p.MACs, mac) {
		return false
	}
	if len(p.MACPrefix) > 0 {
		ok := false
		for _, pre := range p.MACPrefix {
			if mac != "" && strings.HasPrefix(mac, pre) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if len(p.Group) > 0 && (f.Group == "" || !slices.Contains(p.Group, f.Group)) {
		return false
	}
	if len(p.Arch) > 0 {
		num := strconv.Itoa(int(f.Arch))
		ok := false
		for _, a := range p.Arch {
			if a == num || (f.Platform != "" && strings.EqualFold(a, f.Platform)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Resolve applies the file to f, without boot-once state.
func (s *Set) Resolve(f Facts) Decision {
	d := Decision{Default: s.Default, Timeout: s.Timeout, Args: expand(s.Args, f)}
	if p, ok := s.Match(f); ok {
		d.Profile = p.Name
		if p.Default != "" {
			d.Default = p.Default
		}
		if p.Timeout != nil {
			d.Timeout = *p.Timeout
		}
		if a := expand(p.Args, f); a != "" {
			d.Args = strings.TrimSpace(d.Args + " " + a)
		}
	}
	return d
}

// MarksSecureBoot reports whether the file says "secure_boot" anywhere, so that callers on a
// per-packet path can skip building Facts when it does not.
func (s *Set) MarksSecureBoot() bool {
	if s.SecureBoot != nil {
		return true
	}
	for i := range s.Profiles {
		if s.Profiles[i].SecureBoot != nil {
			return true
		}
	}
	return false
}

// SecureBootFor says whether the file marks f's machine as a Secure Boot machine: the most
// specific matching profile's "secure_boot", else the file's top-level one. ok is false when
// neither says (the server's --secure-boot then decides).
func (s *Set) SecureBootFor(f Facts) (on, ok bool) {
	if p, found := s.Match(f); found && p.SecureBoot != nil {
		return *p.SecureBoot, true
	}
	if s.SecureBoot != nil {
		return *s.SecureBoot, true
	}
	return false, false
}

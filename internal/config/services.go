package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// Services are the names --debug and --verbose accept. tftp, dhcp, http and nbd are PyPXE's;
// link (the interface: carrier, addresses, mode changes) is ours.
var Services = []string{"tftp", "dhcp", "http", "nbd", "link"}

// LevelVerbose sits between debug and info: --verbose shows it, plain runs do not.
const LevelVerbose = slog.Level(-2)

// ParseServices reads a PyPXE service list: comma-separated names, "all" for every service,
// "-name" to leave one out ("all,-dhcp"). An exclusion wins over "all" and over the name,
// as in PyPXE.
func ParseServices(list string) (map[string]bool, error) {
	on := map[string]bool{}
	off := map[string]bool{}
	all := false
	for _, f := range strings.Split(list, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		neg := strings.HasPrefix(f, "-")
		name := strings.TrimPrefix(f, "-")
		if name == "all" {
			if neg {
				return nil, fmt.Errorf("%q: '-all' means nothing; leave the list empty", f)
			}
			all = true
			continue
		}
		if !known(name) {
			return nil, fmt.Errorf("unknown service %q; use %s, all, or -name to exclude", name, strings.Join(Services, ", "))
		}
		if neg {
			off[name] = true
		} else {
			on[name] = true
		}
	}
	res := map[string]bool{}
	for _, s := range Services {
		if (all || on[s]) && !off[s] {
			res[s] = true
		}
	}
	return res, nil
}

func known(name string) bool {
	for _, s := range Services {
		if s == name {
			return true
		}
	}
	return false
}

// Levels returns the slog level of each service: debug where --debug names it, verbose where
// --verbose does, info otherwise. Call after Validate.
func (c *Config) Levels() map[string]slog.Level {
	dbg, _ := ParseServices(c.ModeDebug)
	vrb, _ := ParseServices(c.ModeVerbose)
	l := make(map[string]slog.Level, len(Services))
	for _, s := range Services {
		switch {
		case dbg[s]:
			l[s] = slog.LevelDebug
		case vrb[s]:
			l[s] = LevelVerbose
		default:
			l[s] = slog.LevelInfo
		}
	}
	return l
}

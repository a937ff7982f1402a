package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every validation error of a profiles file.
var ErrInvalid = errors.New("profiles: invalid profiles file")

// DefaultTimeout is the menu timeout when neither the profile nor the file sets one.
const DefaultTimeout = 10 * time.Second

// Local is the entry name meaning "boot from the local disk".
const Local = "local"

// Limits on a profiles file.
const (
	maxFileBytes = 1 << 20
	maxProfiles  = 4096
	maxTimeout   = 3600
	maxArgs      = 1024
)

// fileJSON is the profiles file:
//
//	{"default": "local", "timeout": 10, "args": "console=ttyS0",
//	 "profiles": [{"name": "lab", "match": {"mac": [...], "mac_prefix": [...],
//	   "arch": ["x86_64-efi", "7"], "group": ["lab"]},
//	   "default": "debian-installer", "timeout": 0, "args": "hostname={hostname}",
//	   "secure_boot": true}]}
//
// "secure_boot" (top level or per profile) marks the matching machines as Secure Boot
// machines (signed shim → GRUB instead of iPXE); absent = the server's --secure-boot.
type fileJSON struct {
	Default    string        `json:"default"`
	Timeout    *int          `json:"timeout"`
	Args       string        `json:"args"`
	SecureBoot *bool         `json:"secure_boot"`
	Profiles   []profileJSON `json:"profiles"`
}

type profileJSON struct {
	Name    string    `json:"name"`
	Match   matchJSON `json:"match"`
	Default string    `json:"default"`
	Timeout *int      `json:"timeout"`
	Args    string    `json:"args"`
	// SecureBoot is nil when the profile does not say.
	SecureBoot *bool `json:"secure_boot"`
}

type matchJSON struct {
	MAC       []string `json:"mac"`
	MACPrefix []string `json:"mac_prefix"`
	Arch      []string `json:"arch"`
	Group     []string `json:"group"`
}

// Profile is one validated profile. Criteria given are all required (AND); within one
// criterion any listed value matches (OR).
type Profile struct {
	Name        string
	MACs        []string // normalised
	MACPrefix   []string // normalised "aa:bb:cc" prefixes
	Arch        []string // platform names or option-93 numbers as decimal strings
	Group       []string
	Default     string
	Timeout     *time.Duration
	Args        string
	SecureBoot  *bool // nil: the profile does not say
	specificity int
}

// Set is a parsed profiles file.
type Set struct {
	Default    string
	Timeout    time.Duration
	Args       string
	SecureBoot *bool // the file's top-level "secure_boot"; nil: not set
	Profiles   []Profile
}

// Load reads and parses a profiles file; an empty path is an empty Set.
func Load(path string) (*Set, error) {
	if path == "" {
		return Parse(nil)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, maxFileBytes)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse validates a profiles file. Unknown keys, bad MACs, profiles without criteria,
// timeouts outside 0..3600 s and arguments with control characters are errors naming the
// profile and key.
func Parse(b []byte) (*Set, error) {
	s := &Set{Default: Local, Timeout: DefaultTimeout}
	if len(bytes.TrimSpace(b)) == 0 {
		return s, nil
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxFileBytes)
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	if f.Default != "" {
		if err := checkEntry(f.Default); err != nil {
			return nil, fmt.Errorf("%w: default: %v", ErrInvalid, err)
		}
		s.Default = f.Default
	}
	if f.Timeout != nil {
		t, err := timeout(*f.Timeout)
		if err != nil {
			return nil, fmt.Errorf("%w: timeout: %v", ErrInvalid, err)
		}
		s.Timeout = t
	}
	if err := checkArgs(f.Args); err != nil {
		return nil, fmt.Errorf("%w: args: %v", ErrInvalid, err)
	}
	s.Args = f.Args
	s.SecureBoot = f.SecureBoot
	if len(f.Profiles) > maxProfiles {
		return nil, fmt.Errorf("%w: more than %d profiles", ErrInvalid, maxProfiles)
	}
	for i, pj := range f.Profiles {
		p, err := profile(pj)
		if err != nil {
			name := pj.Name
			if name == "" {
				name = "#" + strconv.Itoa(i)
			}
			return nil, fmt.Errorf("%w: profile %q: %v", ErrInvalid, name, err)
		}
		s.Profiles = append(s.Profiles, p)
	}
	return s, nil
}

func profile(pj profileJSON) (Profile, error) {
	p := Profile{Name: pj.Name, Arch: pj.Match.Arch, Group: pj.Match.Group, Default: pj.Default, Args: pj.Args, SecureBoot: pj.SecureBoot}
	if p.Name == "" {
		return p, errors.New("name: missing")
	}
	for _, m := range pj.Match.MAC {
		n := NormalizeMAC(m)
		if n == "" {
			return p, fmt.Errorf("match.mac: %q is not a MAC address", m)
		}
		p.MACs = append(p.MACs, n)
	}
	for _, m := range pj.Match.MACPrefix {
		n, ok := macPrefix(m)
		if !ok {
			return p, fmt.Errorf("match.mac_prefix: %q is not 1-5 hex bytes", m)
		}
		p.MACPrefix = append(p.MACPrefix, n)
	}
	for _, a := range p.Arch {
		if a == "" || len(a) > 32 {
			return p, fmt.Errorf("match.arch: %q", a)
		}
	}
	for _, g := range p.Group {
		if g == "" {
			return p, errors.New("match.group: empty name")
		}
	}
	if len(p.MACs)+len(p.MACPrefix)+len(p.Arch)+len(p.Group) == 0 {
		return p, errors.New("match: no criteria (a profile for everyone is the file's top-level default)")
	}
	if p.Default != "" {
		if err := checkEntry(p.Default); err != nil {
			return p, fmt.Errorf("default: %v", err)
		}
	}
	if pj.Timeout != nil {
		t, err := timeout(*pj.Timeout)
		if err != nil {
			return p, fmt.Errorf("timeout: %v", err)
		}
		p.Timeout = &t
	}
	if err := checkArgs(p.Args); err != nil {
		return p, fmt.Errorf("args: %v", err)
	}
	// Specificity: an exact MAC beats a group, a group beats a prefix, a prefix beats an
	// architecture; longer prefixes beat shorter ones.
	if len(p.MACs) > 0 {
		p.specificity += 1000
	}
	if len(p.Group) > 0 {
		p.specificity += 100
	}
	if len(p.MACPrefix) > 0 {
		p.specificity += 10 + len(p.MACPrefix[0])
	}
	if len(p.Arch) > 0 {
		p.specificity++
	}
	return p, nil
}

func macPrefix(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("-", ":", ".", ":").Replace(s)
	parts := strings.Split(s, ":")
	if len(parts) < 1 || len(parts) > 5 {
		return "", false
	}
	for _, p := range parts {
		if len(p) != 2 {
			return "", false
		}
		if _, err := strconv.ParseUint(p, 16, 8); err != nil {
			return "", false
		}
	}
	return strings.Join(parts, ":"), true
}

func timeout(sec int) (time.Duration, error) {
	if sec < 0 || sec > maxTimeout {
		return 0, fmt.Errorf("%d s is outside 0..%d", sec, maxTimeout)
	}
	return time.Duration(sec) * time.Second, nil
}

// checkEntry validates an entry name: what the catalogue can hold as a file name.
func checkEntry(e string) error {
	if e == "" || len(e) > 255 || e == "." || e == ".." || strings.ContainsAny(e, "/\\") {
		return fmt.Errorf("%q is not an entry name", e)
	}
	for _, r := range e {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q has control characters", e)
		}
	}
	return nil
}

func checkArgs(a string) error {
	if len(a) > maxArgs {
		return fmt.Errorf("longer than %d bytes", maxArgs)
	}
	for _, r := range a {
		if r < 0x20 || r == 0x7f {
			return errors.New("control characters (newlines) are not allowed")
		}
	}
	return nil
}

package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// StateFile is the boot-once state's name in the state directory.
const StateFile = "nextboot.json"

// maxNextBoots bounds the boot-once table.
const maxNextBoots = 65536

// NextBoot is one pending boot-once setting.
type NextBoot struct {
	MAC   string    `json:"mac"`
	Entry string    `json:"entry"`
	Set   time.Time `json:"set"`
}

type stateJSON struct {
	Version int        `json:"version"`
	Next    []NextBoot `json:"next"`
}

// State is the durable boot-once table. Every change is written to the state directory
// (temporary file, fsync, rename, fsync of the directory) before it takes effect in memory:
// a failed write (ENOSPC, a read-only card) is returned and leaves both unchanged.
type State struct {
	dir string
	mu  sync.Mutex
	m   map[string]NextBoot
	// write persists the table; a test replaces it to inject failures.
	write func(dir string, data []byte) error
}

// OpenState loads dir/nextboot.json (absent: empty). A damaged file is kept as
// nextboot.json.damaged and the table starts empty; the error says so but the State is
// usable.
func OpenState(dir string) (*State, error) {
	s := &State{dir: dir, m: map[string]NextBoot{}, write: writeAtomic}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	m, perr := parseState(b)
	if perr != nil {
		os.Rename(filepath.Join(dir, StateFile), filepath.Join(dir, StateFile+".damaged"))
		return s, fmt.Errorf("profiles: %s damaged, kept as %s.damaged, starting empty: %w", StateFile, StateFile, perr)
	}
	s.m = m
	return s, nil
}

func parseState(b []byte) (map[string]NextBoot, error) {
	var st stateJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, err
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("version %d", st.Version)
	}
	if len(st.Next) > maxNextBoots {
		return nil, fmt.Errorf("%d entries", len(st.Next))
	}
	m := make(map[string]NextBoot, len(st.Next))
	for _, n := range st.Next {
		mac := NormalizeMAC(n.MAC)
		if mac == "" || checkEntry(n.Entry) != nil {
			return nil, fmt.Errorf("bad entry %q → %q", n.MAC, n.Entry)
		}
		n.MAC = mac
		m[mac] = n
	}
	return m, nil
}

// Get returns mac's pending entry.
func (s *State) Get(mac string) (NextBoot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.m[NormalizeMAC(mac)]
	return n, ok
}

// List returns the pending settings sorted by MAC.
func (s *State) List() []NextBoot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NextBoot, 0, len(s.m))
	for _, n := range s.m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out
}

// Set makes entry mac's next boot; entry "" clears it.
func (s *State) Set(mac, entry string, now time.Time) error {
	n := NormalizeMAC(mac)
	if n == "" {
		return fmt.Errorf("profiles: %q is not a MAC address", mac)
	}
	if entry != "" {
		if err := checkEntry(entry); err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps(s.m)
	if entry == "" {
		if _, ok := next[n]; !ok {
			return nil
		}
		delete(next, n)
	} else {
		if _, ok := next[n]; !ok && len(next) >= maxNextBoots {
			return fmt.Errorf("profiles: more than %d boot-once settings", maxNextBoots)
		}
		next[n] = NextBoot{MAC: n, Entry: entry, Set: now.UTC().Truncate(time.Second)}
	}
	return s.commit(next)
}

// ConsumeIf clears mac's setting when it is entry (or any entry, when entry is ""), and
// reports whether it did.
func (s *State) ConsumeIf(mac, entry string) (bool, error) {
	n := NormalizeMAC(mac)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[n]
	if !ok || (entry != "" && cur.Entry != entry) {
		return false, nil
	}
	next := maps(s.m)
	delete(next, n)
	if err := s.commit(next); err != nil {
		return false, err
	}
	return true, nil
}

func maps(m map[string]NextBoot) map[string]NextBoot {
	out := make(map[string]NextBoot, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// commit writes next and then adopts it; s.mu is held.
func (s *State) commit(next map[string]NextBoot) error {
	st := stateJSON{Version: 1, Next: make([]NextBoot, 0, len(next))}
	for _, n := range next {
		st.Next = append(st.Next, n)
	}
	sort.Slice(st.Next, func(i, j int) bool { return st.Next[i].MAC < st.Next[j].MAC })
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := s.write(s.dir, append(data, '\n')); err != nil {
		return fmt.Errorf("profiles: boot-once state not saved (unchanged): %w", err)
	}
	s.m = next
	return nil
}

// writeAtomic replaces dir/StateFile: temp file, write, fsync, rename, fsync dir.
func writeAtomic(dir string, data []byte) error {
	tmp, err := os.CreateTemp(dir, StateFile+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, filepath.Join(dir, StateFile)); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

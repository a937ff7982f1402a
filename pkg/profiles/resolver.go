package profiles

import (
	"sync/atomic"
	"time"
)

// Resolver combines the profiles file (reloadable) and the boot-once state: the object the
// daemon keeps.
type Resolver struct {
	path  string
	set   atomic.Pointer[Set]
	state *State
	now   func() time.Time
}

// New loads the profiles file at path ("" = none) and the boot-once state in stateDir. A
// damaged state file is reported in err together with a usable Resolver; check r != nil.
func New(path, stateDir string) (*Resolver, error) {
	set, err := Load(path)
	if err != nil {
		return nil, err
	}
	st, serr := OpenState(stateDir)
	if st == nil {
		return nil, serr
	}
	r := &Resolver{path: path, state: st, now: time.Now}
	r.set.Store(set)
	return r, serr
}

// Reload re-reads the profiles file (SIGHUP). On error the previous profiles stay in force.
func (r *Resolver) Reload() error {
	set, err := Load(r.path)
	if err != nil {
		return err
	}
	r.set.Store(set)
	return nil
}

// Profiles returns the profiles in force (for the dashboard).
func (r *Resolver) Profiles() *Set { return r.set.Load() }

// Resolve decides for f: a pending boot-once entry wins over the profile's default.
func (r *Resolver) Resolve(f Facts) Decision {
	d := r.set.Load().Resolve(f)
	if n, ok := r.state.Get(f.MAC); ok {
		d.Default, d.BootOnce = n.Entry, true
	}
	return d
}

// SetNextBoot makes entry mac's next boot (once); entry "" clears it. The setting is durable
// when this returns nil.
func (r *Resolver) SetNextBoot(mac, entry string) error { return r.state.Set(mac, entry, r.now()) }

// Consume clears mac's boot-once setting, whatever its entry.
func (r *Resolver) Consume(mac string) error {
	_, err := r.state.ConsumeIf(mac, "")
	return err
}

// ConsumeIf clears mac's boot-once setting if it names entry; the images handler calls it
// when a client fetches the first file of the entry its menu marked.
func (r *Resolver) ConsumeIf(mac, entry string) (bool, error) { return r.state.ConsumeIf(mac, entry) }

// NextBoots lists the pending boot-once settings (for the dashboard).
func (r *Resolver) NextBoots() []NextBoot { return r.state.List() }

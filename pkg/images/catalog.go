package images

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// MaxEntries bounds the catalogue; further directory entries are ignored (and logged).
const MaxEntries = 1024

// Catalog is the scanned images directory. Safe for concurrent use.
type Catalog struct {
	dir    string
	logger *slog.Logger

	scanMu sync.Mutex // one scan at a time
	mu     sync.RWMutex
	list   []Entry
	sigs   map[string]signature
	gen    uint64
}

// signature is what a scan compares to decide whether an entry must be probed again.
type signature struct {
	size  int64
	mtime time.Time
	ino   uint64
	sub   time.Time // directories: newest mtime of the files the entry uses
}

// NewCatalog returns a catalogue of dir (normally <netboot>/images). It does not scan; call
// Rescan or Run. A nil logger discards.
func NewCatalog(dir string, logger *slog.Logger) *Catalog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Catalog{dir: dir, logger: logger, sigs: map[string]signature{}}
}

// Dir is the scanned directory.
func (c *Catalog) Dir() string { return c.dir }

// Entries returns the catalogue sorted by name. The slice is the caller's; its entries
// share their slices with the catalogue and must not be modified.
func (c *Catalog) Entries() []Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.list)
}

// Lookup returns the entry called name.
func (c *Catalog) Lookup(name string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i := sort.Search(len(c.list), func(i int) bool { return c.list[i].Name >= name })
	if i == len(c.list) || c.list[i].Name != name {
		return Entry{}, false
	}
	return c.list[i], true
}

// Generation counts scans that changed the catalogue (a cache key for generated menus).
func (c *Catalog) Generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Rescan stats the directory and probes entries that are new or changed since the last
// scan; unchanged entries keep their result. A missing directory is an empty catalogue;
// only an unreadable directory is an error (the previous catalogue is then kept).
func (c *Catalog) Rescan() error {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	des, err := os.ReadDir(c.dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	c.mu.RLock()
	old := make(map[string]Entry, len(c.list))
	for _, e := range c.list {
		old[e.Name] = e
	}
	oldSigs := c.sigs
	c.mu.RUnlock()

	list := make([]Entry, 0, len(des))
	sigs := make(map[string]signature, len(des))
	changed := false
	for _, d := range des {
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if len(list) >= MaxEntries {
			c.logger.Warn("images: too many entries, the rest are ignored", "dir", c.dir, "max", MaxEntries)
			break
		}
		full := filepath.Join(c.dir, name)
		sig, st := stat(full)
		prev, had := old[name]
		if had && st == nil && prev.Kind == KindDir && prev.Bootable {
			sig.sub = subMtime(full, prev)
		}
		if had && st == nil && oldSigs[name] == sig {
			list = append(list, prev)
			sigs[name] = sig
			continue
		}
		changed = true
		e := probe(name, full)
		if e.Kind == KindDir && e.Bootable {
			sig.sub = subMtime(full, e)
		}
		sigs[name] = sig
		list = append(list, e)
		if e.Bootable {
			c.logger.Info("images: entry", "name", name, "kind", e.Kind, "method", e.Method, "archs", e.Archs, "recipe", e.Recipe)
		} else {
			c.logger.Warn("images: entry not bootable", "name", name, "kind", e.Kind, "reason", e.Reason)
		}
	}
	if len(list) != len(old) {
		changed = true
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	c.mu.Lock()
	c.list, c.sigs = list, sigs
	if changed {
		c.gen++
	}
	c.mu.Unlock()
	return nil
}

// Run rescans every interval until ctx ends. A directory entry's signature is its size,
// modification time and inode (for a kernel directory also its files' times), so a warm
// rescan is one stat per entry.
func (c *Catalog) Run(ctx context.Context, interval time.Duration) error {
	if err := c.Rescan(); err != nil {
		c.logger.Warn("images: scan", "dir", c.dir, "err", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.Rescan(); err != nil {
				c.logger.Warn("images: scan", "dir", c.dir, "err", err)
			}
		}
	}
}

// stat returns the entry's signature, following symlinks (an ISO may be a link to a USB
// stick); the error is non-nil when the entry cannot be stat'ed.
func stat(full string) (signature, error) {
	st, err := os.Stat(full)
	if err != nil {
		return signature{}, err
	}
	return signature{size: st.Size(), mtime: st.ModTime(), ino: inode(st)}, nil
}

// subMtime is the newest modification time of the files a kernel directory entry uses, so
// replacing a kernel inside the directory is noticed.
func subMtime(full string, e Entry) time.Time {
	var newest time.Time
	for _, p := range append([]string{e.Kernel, "cmdline"}, e.Initrds...) {
		if st, err := os.Stat(filepath.Join(full, filepath.FromSlash(p))); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest
}

// probe classifies and examines one entry of the images directory.
func probe(name, full string) Entry {
	e := Entry{Name: name, Kind: KindUnknown}
	st, err := os.Stat(full)
	if err != nil {
		e.Reason = "unreadable: " + errText(err)
		return e
	}
	e.ModTime = st.ModTime()
	switch {
	case st.IsDir():
		e.Kind = KindDir
		probeDir(&e, full)
		return e
	case !st.Mode().IsRegular():
		e.Reason = "not a regular file or directory"
		return e
	}
	e.Size = st.Size()
	switch strings.ToLower(filepath.Ext(name)) {
	case ".iso":
		e.Kind = KindISO
		probeISO(&e, full)
	case ".ipxe":
		e.Kind = KindScript
		e.Method = MethodScript
		e.Label = strings.TrimSuffix(name, filepath.Ext(name))
		e.Bootable = true
	default:
		e.Reason = "unknown file type (expected .iso, .ipxe or a kernel directory)"
	}
	return e
}

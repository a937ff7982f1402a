package nbd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrUnknownExport is returned for a name no export answers to.
var ErrUnknownExport = errors.New("nbd: no such export")

// ErrTooBigForRAM is returned by New when CopyToRAM is set and the default image does not fit
// in the memory available; the daemon exits 2 on it.
var ErrTooBigForRAM = errors.New("nbd: image does not fit in available memory")

// maxListed bounds NBD_OPT_LIST and the directory walk behind it.
const maxListed = 1024

// imageRef is an opened image shared by every connection to one export.
type imageRef struct {
	img    *image
	refs   int
	writer atomic.Bool // held by the one write-through connection
}

// exports resolves export names to images: the default (--nbd FILE, under "" and its base
// name) and files below the exports directory, opened through os.Root so neither ".." nor a
// symbolic link can lead outside it.
type exports struct {
	defName  string
	def      *imageRef
	root     *os.Root
	writable bool // open images read-write (write-through mode)

	mu   sync.Mutex
	open map[string]*imageRef
}

func newExports(defPath, dir string, writable, toRAM bool) (*exports, error) {
	e := &exports{writable: writable, open: make(map[string]*imageRef)}
	if defPath != "" {
		f, err := openImageFile(func(flag int) (*os.File, error) { return os.OpenFile(defPath, flag, 0) }, writable)
		if err != nil {
			return nil, err
		}
		img, err := newImage(filepath.Base(defPath), f, writable)
		if err != nil {
			f.Close()
			return nil, err
		}
		if toRAM {
			if err := img.loadToRAM(); err != nil {
				f.Close()
				return nil, err
			}
		}
		e.defName = img.name
		e.def = &imageRef{img: img, refs: 1}
	}
	if dir != "" {
		r, err := os.OpenRoot(dir)
		switch {
		case err == nil:
			e.root = r
		case errors.Is(err, fs.ErrNotExist) && defPath != "":
			// The exports directory is optional when a default image is given.
		default:
			e.close()
			return nil, err
		}
	}
	if e.def == nil && e.root == nil {
		return nil, errors.New("nbd: neither a default image nor an exports directory")
	}
	return e, nil
}

func openImageFile(open func(flag int) (*os.File, error), writable bool) (*os.File, error) {
	if writable {
		return open(os.O_RDWR)
	}
	return open(os.O_RDONLY)
}

func newImage(name string, f *os.File, writable bool) (*image, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := &image{name: name, f: f, writable: writable}
	switch {
	case st.Mode().IsRegular():
		m.size = st.Size()
	case st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0:
		m.blockDev = true
		if m.size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("nbd: %s is neither a regular file nor a block device", name)
	}
	return m, nil
}

// loadToRAM copies the image into memory after checking that it fits in what the kernel
// reports available.
func (m *image) loadToRAM() error {
	avail, err := memAvailable()
	if err != nil {
		return fmt.Errorf("nbd: copy to RAM: cannot tell the memory available: %w", err)
	}
	if m.size > avail {
		return fmt.Errorf("%w: %s is %d bytes, %d bytes available", ErrTooBigForRAM, m.name, m.size, avail)
	}
	buf := make([]byte, m.size)
	if _, err := m.f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return err
	}
	m.ram = buf
	m.f.Close()
	m.f = nil
	return nil
}

// cleanName turns a client's export name into a path relative to the exports directory.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 || strings.Contains(name, `\`) {
		return "", ErrUnknownExport
	}
	c := path.Clean("/" + name)[1:]
	if c == "" || c != strings.TrimPrefix(name, "/") {
		return "", ErrUnknownExport
	}
	return c, nil
}

// acquire opens (or shares) the export's image. The returned name is canonical.
func (e *exports) acquire(name string) (string, *imageRef, error) {
	if e.def != nil && (name == "" || name == e.defName) {
		return e.defName, e.def, nil
	}
	if e.root == nil {
		return "", nil, ErrUnknownExport
	}
	c, err := cleanName(name)
	if err != nil {
		return "", nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.open[c]; r != nil {
		r.refs++
		return c, r, nil
	}
	f, err := openImageFile(func(flag int) (*os.File, error) { return e.root.OpenFile(c, flag, 0) }, e.writable)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrUnknownExport, err)
	}
	img, err := newImage(c, f, e.writable)
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("%w: %v", ErrUnknownExport, err)
	}
	r := &imageRef{img: img, refs: 1}
	e.open[c] = r
	return c, r, nil
}

func (e *exports) release(r *imageRef) {
	if r == e.def {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.refs--; r.refs == 0 {
		delete(e.open, r.img.name)
		r.img.close()
	}
}

// list names the exports: the default first, then image files below the directory.
func (e *exports) list() []string {
	var names []string
	if e.def != nil {
		names = append(names, e.defName)
	}
	if e.root == nil {
		return names
	}
	_ = fs.WalkDir(e.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(names) >= maxListed {
			return fs.SkipDir
		}
		if d.IsDir() {
			if strings.Count(p, "/") >= 4 {
				return fs.SkipDir
			}
			return nil
		}
		t := d.Type()
		if (t.IsRegular() || (t&fs.ModeDevice != 0 && t&fs.ModeCharDevice == 0)) && p != e.defName {
			names = append(names, p)
		}
		return nil
	})
	return names
}

func (e *exports) close() {
	if e.def != nil {
		e.def.img.close()
	}
	if e.root != nil {
		e.root.Close()
	}
	e.mu.Lock()
	for _, r := range e.open {
		r.img.close()
	}
	e.open = nil
	e.mu.Unlock()
}

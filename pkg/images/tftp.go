package images

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/images/iso9660"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// TFTPSource overlays the catalogue on another tftp.FileSource: `images/<entry>/<path>`
// reads a file inside an ISO or a kernel directory, `images/<entry>` the ISO or script
// itself; generated files (pxelinux.cfg/default, grub.cfg) come from Generate when the inner
// source has no such file; everything else goes to Inner.
type TFTPSource struct {
	Catalog *Catalog
	Inner   tftp.FileSource
	// Generate, when set, is asked for paths the inner source does not have; it returns
	// ok=false for paths it does not generate.
	Generate func(req *tftp.Request) (data []byte, ok bool)
}

// Open implements tftp.FileSource.
func (s *TFTPSource) Open(req *tftp.Request) (tftp.File, error) {
	if rest, ok := strings.CutPrefix(req.Path, "images/"); ok {
		return s.openImage(rest)
	}
	f, err := s.Inner.Open(req)
	if err != nil && s.Generate != nil && errorsIsNotExist(err) {
		if data, ok := s.Generate(req); ok {
			return &memFile{data: data}, nil
		}
	}
	return f, err
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func (s *TFTPSource) openImage(rest string) (tftp.File, error) {
	name, inner, _ := strings.Cut(rest, "/")
	e, ok := s.Catalog.Lookup(name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: rest, Err: fs.ErrNotExist}
	}
	inner, err := cleanInner(inner)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: rest, Err: fs.ErrPermission}
	}
	full := filepath.Join(s.Catalog.Dir(), name)
	switch {
	case inner == "" && (e.Kind == KindISO || e.Kind == KindScript):
		return openRegular(full)
	case inner != "" && e.Kind == KindDir:
		return openRegular(filepath.Join(full, filepath.FromSlash(inner)))
	case inner != "" && e.Kind == KindISO:
		f, err := os.Open(full)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		img, err := iso9660.Open(f, st.Size())
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("images: %s: %w", name, err)
		}
		file, err := img.Open(inner)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &isoFile{File: file, f: f}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: rest, Err: fs.ErrNotExist}
}

// isoFile is a file inside an ISO for a TFTP transfer; closing it closes the ISO.
type isoFile struct {
	*iso9660.File
	f *os.File
}

func (f *isoFile) Close() error { return f.f.Close() }

type osFile struct {
	*os.File
	size int64
}

func (f *osFile) Size() int64 { return f.size }

func openRegular(p string) (tftp.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return &osFile{File: f, size: st.Size()}, nil
}

// memFile is a generated file.
type memFile struct{ data []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m *memFile) Close() error { return nil }
func (m *memFile) Size() int64  { return int64(len(m.data)) }

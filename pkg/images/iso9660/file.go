package iso9660

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Extent is a contiguous run of a file's bytes inside the image.
type Extent struct {
	Offset int64 // byte offset in the image
	Length int64
}

// File is a file or directory found in the image. It reads through the image's io.ReaderAt
// and holds no descriptor of its own.
type File struct {
	img     *Image
	name    string
	dir     bool
	symlink bool
	size    int64
	mtime   time.Time
	extents []extent
}

// Name is the file's base name.
func (f *File) Name() string { return f.name }

// Size is the file's length in bytes (the sum of its extents).
func (f *File) Size() int64 { return f.size }

// ModTime is the recording time of the file's directory record.
func (f *File) ModTime() time.Time { return f.mtime }

// IsDir reports whether f is a directory.
func (f *File) IsDir() bool { return f.dir }

// IsRegular reports whether f is a plain file (not a directory, not a Rock Ridge symlink).
func (f *File) IsRegular() bool { return !f.dir && !f.symlink }

// Extent returns the file's byte range in the image when it is one contiguous run (adjacent
// parts of a multi-extent file count as one), so a server can send it straight from the
// image's descriptor. ok is false for fragmented files; an empty file is (0, 0, true).
func (f *File) Extent() (off, n int64, ok bool) {
	switch len(f.extents) {
	case 0:
		return 0, 0, true
	case 1:
		return f.extents[0].off, f.extents[0].len, true
	}
	return 0, 0, false
}

// Extents lists the file's byte ranges in the image in file order.
func (f *File) Extents() []Extent {
	out := make([]Extent, len(f.extents))
	for i, e := range f.extents {
		out[i] = Extent{e.off, e.len}
	}
	return out
}

// ReadAt reads the file's bytes at off, crossing extents as needed.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("iso9660: negative offset %d", off)
	}
	if f.dir {
		return 0, fmt.Errorf("iso9660: %s: read of a directory", f.name)
	}
	n := 0
	pos := int64(0)
	for _, e := range f.extents {
		if len(p) == 0 {
			break
		}
		if off >= pos+e.len {
			pos += e.len
			continue
		}
		in := off - pos
		want := min(int64(len(p)), e.len-in)
		m, err := f.img.r.ReadAt(p[:want], e.off+in)
		n += m
		if m < int(want) {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("%w: %s: image ends inside the file", ErrCorrupt, f.name)
			}
			return n, err
		}
		p = p[want:]
		off += want
		pos += e.len
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// Reader returns a ReadSeeker over the whole file.
func (f *File) Reader() *io.SectionReader { return io.NewSectionReader(f, 0, f.size) }

func (img *Image) fileOf(r record) *File {
	f := &File{img: img, name: r.name, dir: r.dir, symlink: r.symlink, size: r.size, mtime: r.mtime}
	if !r.dir {
		for _, e := range r.extents {
			if e.len == 0 {
				continue
			}
			if n := len(f.extents); n > 0 && f.extents[n-1].off+f.extents[n-1].len == e.off {
				f.extents[n-1].len += e.len
				continue
			}
			f.extents = append(f.extents, e)
		}
	} else {
		f.extents = r.extents
	}
	return f
}

// splitPath cleans a slash-separated path into its elements; "" and "/" are the root.
func splitPath(p string) ([]string, error) {
	var out []string
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "", ".":
			continue
		case "..":
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrInvalid}
		}
		out = append(out, el)
	}
	if len(out) > maxDepth {
		return nil, fmt.Errorf("%w: path of %d elements", ErrLimit, len(out))
	}
	return out, nil
}

// lookup walks p from the root: exact names first, then case-insensitive.
func (img *Image) lookup(p string) (record, error) {
	els, err := splitPath(p)
	if err != nil {
		return record{}, err
	}
	cur := img.root
	cur.name = "/"
	for i, el := range els {
		if !cur.dir {
			return record{}, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		ents, err := img.readDir(cur)
		if err != nil {
			return record{}, fmt.Errorf("%s: %w", strings.Join(els[:i], "/"), err)
		}
		found := -1
		for j := range ents {
			if !ents[j].hidden && ents[j].name == el {
				found = j
				break
			}
		}
		if found < 0 {
			for j := range ents {
				if !ents[j].hidden && strings.EqualFold(ents[j].name, el) {
					found = j
					break
				}
			}
		}
		if found < 0 {
			return record{}, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		cur = ents[found]
		if cur.childLink >= 0 {
			if cur, err = img.followChildLink(cur); err != nil {
				return record{}, err
			}
		}
	}
	return cur, nil
}

// Stat returns the file or directory at path p (slash-separated, relative to the root).
func (img *Image) Stat(p string) (*File, error) {
	r, err := img.lookup(p)
	if err != nil {
		return nil, err
	}
	return img.fileOf(r), nil
}

// Open returns the regular file at p; directories and symlinks are refused with
// fs.ErrInvalid.
func (img *Image) Open(p string) (*File, error) {
	f, err := img.Stat(p)
	if err != nil {
		return nil, err
	}
	if !f.IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrInvalid}
	}
	return f, nil
}

// ReadDir lists the directory at p in image order.
func (img *Image) ReadDir(p string) ([]*File, error) {
	r, err := img.lookup(p)
	if err != nil {
		return nil, err
	}
	if !r.dir {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fs.ErrInvalid}
	}
	ents, err := img.readDir(r)
	if err != nil {
		return nil, err
	}
	out := make([]*File, 0, len(ents))
	for _, e := range ents {
		if e.hidden {
			continue
		}
		if e.childLink >= 0 {
			if e, err = img.followChildLink(e); err != nil {
				return nil, err
			}
		}
		out = append(out, img.fileOf(e))
	}
	return out, nil
}

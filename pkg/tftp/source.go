package tftp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"syscall"
)

// Request is what a FileSource learns about a read request.
type Request struct {
	// Path is the cleaned, root-relative path: `\` mapped to `/`, leading `/` stripped,
	// no `.` or empty elements, never a `..` element. See CleanPath.
	Path string
	// Client is the client's address and port (its transfer id).
	Client netip.AddrPort
	// Local is the server address the request arrived on; replies leave from it.
	Local netip.Addr
	// Mode is "octet" or "netascii" (lower case). Sources normally ignore it: the server
	// translates netascii itself.
	Mode string
}

// File is an open file a transfer reads from. ReadAt lets the engine re-read a block for a
// retransmission instead of keeping copies of every block in flight.
type File interface {
	io.ReaderAt
	io.Closer
	// Size is the file's length in bytes; it must not change during a transfer.
	Size() int64
}

// FileSource opens files for read requests. Implementations must be safe for concurrent use.
// A file that does not exist is reported with an error satisfying errors.Is(err,
// fs.ErrNotExist) (sent as ERROR 1); a refused one with fs.ErrPermission (ERROR 2). Any other
// error is sent as ERROR 0 with a generic message.
type FileSource interface {
	Open(req *Request) (File, error)
}

// FileSourceFunc adapts a function to a FileSource.
type FileSourceFunc func(req *Request) (File, error)

// Open calls f(req).
func (f FileSourceFunc) Open(req *Request) (File, error) { return f(req) }

// DirOption configures NewDirSource.
type DirOption func(*DirSource)

// WithLowercaseFallback makes the source retry a missing path in lower case, for firmware
// that asks for PXELINUX.0 when the file on disk is pxelinux.0.
func WithLowercaseFallback() DirOption {
	return func(d *DirSource) { d.lowercase = true }
}

// DirSource serves regular files below one directory. Confinement is by os.Root, so neither
// `..` nor a symlink can reach outside the directory; device files, FIFOs and directories
// are refused.
type DirSource struct {
	root      *os.Root
	lowercase bool
}

// NewDirSource opens dir as the root of a DirSource. Close it when done.
func NewDirSource(dir string, opts ...DirOption) (*DirSource, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftp: open root: %w", err)
	}
	d := &DirSource{root: r}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Close releases the root directory.
func (d *DirSource) Close() error { return d.root.Close() }

// Open opens req.Path below the root.
func (d *DirSource) Open(req *Request) (File, error) {
	p, err := CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	f, err := d.open(p)
	if errors.Is(err, fs.ErrNotExist) && d.lowercase {
		if lp := strings.ToLower(p); lp != p {
			f, err = d.open(lp)
		}
	}
	return f, err
}

func (d *DirSource) open(p string) (File, error) {
	// Stat first so that a device or FIFO is never opened (opening some devices has side
	// effects; a FIFO would block).
	st, err := d.root.Stat(p)
	if err != nil {
		return nil, classify(p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errNotRegular}
	}
	// O_NONBLOCK: should the file be swapped for a FIFO between Stat and open, open must not
	// hang the transfer goroutine; the fstat below then refuses it.
	f, err := d.root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, classify(p, err)
	}
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, classify(p, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: errNotRegular}
	}
	return &osFile{File: f, size: st.Size()}, nil
}

var errNotRegular = fmt.Errorf("not a regular file: %w", fs.ErrPermission)

// classify keeps "does not exist" and turns every other failure (escape from the root,
// EACCES, ENAMETOOLONG, ELOOP, ENOTDIR on a file used as a directory) into a permission error,
// so that clients get ERROR 2 without learning why.
func classify(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w (%v)", fs.ErrPermission, unwrapPath(err))}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type osFile struct {
	*os.File
	size int64
}

func (f *osFile) Size() int64 { return f.size }

package images

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// sectionFile is a ReadSeeker over bytes [base, base+size) of its own *os.File that keeps
// the descriptor's file position equal to base plus its own position. That lets it offer
// the descriptor to net/http through syscall.Conn: when http.ServeContent copies it into a
// TCP connection, the net package's sendfile path sends from the descriptor's current
// position for at most the io.LimitedReader's count ServeContent wraps it in, so the bytes
// inside an ISO go out with sendfile like a plain file's. The descriptor must not be shared:
// the position is state.
type sectionFile struct {
	f    *os.File
	base int64
	size int64
}

var errNegativeSeek = errors.New("images: seek before the start of the file")

func newSectionFile(f *os.File, base, size int64) (*sectionFile, error) {
	if _, err := f.Seek(base, io.SeekStart); err != nil {
		return nil, err
	}
	return &sectionFile{f: f, base: base, size: size}, nil
}

// pos is the position within the section, read from the descriptor (sendfile moves it
// without telling us).
func (s *sectionFile) pos() (int64, error) {
	cur, err := s.f.Seek(0, io.SeekCurrent)
	return cur - s.base, err
}

func (s *sectionFile) Read(p []byte) (int, error) {
	pos, err := s.pos()
	if err != nil {
		return 0, err
	}
	if pos >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	return s.f.Read(p)
}

func (s *sectionFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		pos, err := s.pos()
		if err != nil {
			return 0, err
		}
		off += pos
	case io.SeekEnd:
		off += s.size
	default:
		return 0, errors.New("images: bad whence")
	}
	if off < 0 {
		return 0, errNegativeSeek
	}
	if _, err := s.f.Seek(s.base+off, io.SeekStart); err != nil {
		return 0, err
	}
	return off, nil
}

// SyscallConn hands the descriptor to the net package's sendfile path (see the type's
// comment); it is only reached through WriteTo or an io.LimitedReader, which bound it.
func (s *sectionFile) SyscallConn() (syscall.RawConn, error) { return s.f.SyscallConn() }

// WriteTo bounds a plain io.Copy(conn, s): without it the sendfile path would run to the
// end of the ISO.
func (s *sectionFile) WriteTo(w io.Writer) (int64, error) {
	pos, err := s.pos()
	if err != nil {
		return 0, err
	}
	return io.Copy(w, &io.LimitedReader{R: sectionBody{s}, N: max(s.size-pos, 0)})
}

// sectionBody is the sectionFile without WriteTo, so io.Copy does not recurse.
type sectionBody struct{ s *sectionFile }

func (b sectionBody) Read(p []byte) (int, error)            { return b.s.Read(p) }
func (b sectionBody) SyscallConn() (syscall.RawConn, error) { return b.s.SyscallConn() }

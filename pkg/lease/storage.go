package lease

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// storage is every way the store changes its files after reading them. osStorage is the
// only implementation outside tests; the tests substitute one that fails chosen
// operations, which a real disk does only when it is full or dying.
type storage interface {
	openFile(name string, flag int, perm os.FileMode) (*os.File, error)
	write(f *os.File, b []byte) (int, error)
	sync(f *os.File) error
	truncate(f *os.File, size int64) error
	rename(from, to string) error
}

type osStorage struct{ syncFile func(*os.File) error }

func (osStorage) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osStorage) write(f *os.File, b []byte) (int, error) { return f.Write(b) }
func (o osStorage) sync(f *os.File) error                 { return o.syncFile(f) }
func (osStorage) truncate(f *os.File, size int64) error   { return f.Truncate(size) }
func (osStorage) rename(from, to string) error            { return os.Rename(from, to) }

// writeError wraps a write or sync failure so callers can tell a full disk (which frees
// up) from anything else.
func writeError(what string, err error) error {
	if isNoSpace(err) {
		return fmt.Errorf("%w: %w: %s: %w", ErrFailed, ErrNoSpace, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrFailed, what, err)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

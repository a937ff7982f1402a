//go:build unix

package lease

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive flock on path so two processes never append to one journal.
// The kernel drops it when the process dies, so a crash never leaves the store locked.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB) }); err != nil {
		f.Close()
		return nil, err
	}
	if lerr == unix.EWOULDBLOCK {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if lerr != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: lerr}
	}
	return f, nil
}

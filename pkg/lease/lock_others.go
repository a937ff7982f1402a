//go:build !unix

package lease

import "os"

// lockDir only creates the lock file where flock is not available; there a second process
// on the same directory is not detected.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

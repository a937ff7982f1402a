//go:build !linux

package nbd

import (
	"errors"
	"os"
)

func punchHole(f *os.File, off, n int64) error { return errors.ErrUnsupported }

func fdatasync(f *os.File) error { return f.Sync() }

func memAvailable() (int64, error) { return 0, errors.ErrUnsupported }

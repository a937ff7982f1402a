//go:build !linux

package nbd

import (
	"errors"
	"os"
	"syscall"
)

// filePipe is Linux's splice path; elsewhere there is none and sendfile's fallback is used.
type filePipe struct{}

func newFilePipe() *filePipe { return nil }

func (p *filePipe) close() {}

func (p *filePipe) send(sock syscall.RawConn, f *os.File, off, n int64) error {
	return errors.ErrUnsupported
}

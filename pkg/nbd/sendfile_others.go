//go:build !linux

package nbd

import (
	"errors"
	"net"
	"os"
	"syscall"
)

func sockOf(nc net.Conn) syscall.RawConn { return nil }

func sendFile(sock syscall.RawConn, f *os.File, off, n int64) error { return errors.ErrUnsupported }

func sendMore(sock syscall.RawConn, b []byte) error { return errors.ErrUnsupported }

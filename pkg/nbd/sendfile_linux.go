package nbd

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockOf returns the socket's raw connection when the kernel can send file pages to it
// directly (TCP), else nil.
func sockOf(nc net.Conn) syscall.RawConn {
	if tc, ok := nc.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// sendFile sends n bytes of f from off to the socket with sendfile(2), which copies from the
// page cache into the socket without passing through a user buffer; the offset is explicit,
// so concurrent readers of f do not disturb each other.
func sendFile(sock syscall.RawConn, f *os.File, off, n int64) error {
	src := int(f.Fd())
	var serr error
	err := sock.Write(func(fd uintptr) bool {
		for n > 0 {
			w, err := unix.Sendfile(int(fd), src, &off, int(min(n, 1<<30)))
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				serr = err
				return true
			case w == 0:
				serr = io.ErrUnexpectedEOF // the file is shorter than the export
				return true
			}
			n -= int64(w)
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}

// sendMore writes b to the socket with MSG_MORE, so the kernel holds it to go out in one
// segment with the sendfile data that follows.
func sendMore(sock syscall.RawConn, b []byte) error {
	var serr error
	err := sock.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := unix.SendmsgN(int(fd), b, nil, nil, unix.MSG_MORE)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				serr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}

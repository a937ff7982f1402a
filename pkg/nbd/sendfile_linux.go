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

// rawSend calls send with the socket's descriptor until it reports done, waiting in the
// runtime's poller while the socket is full (EAGAIN) and retrying EINTR: the loop every raw
// write of this package (sendfile, splice, MSG_MORE) needs.
func rawSend(sock syscall.RawConn, send func(fd int) (done bool, err error)) error {
	var serr error
	err := sock.Write(func(fd uintptr) bool {
		for {
			done, err := send(int(fd))
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				serr = err
				return true
			case done:
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// sendFile sends n bytes of f from off to the socket with sendfile(2), which copies from the
// page cache into the socket without passing through a user buffer; the offset is explicit,
// so concurrent readers of f do not disturb each other.
func sendFile(sock syscall.RawConn, f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	src := int(f.Fd())
	return rawSend(sock, func(fd int) (bool, error) {
		w, err := unix.Sendfile(fd, src, &off, int(min(n, 1<<30)))
		switch {
		case err != nil:
			return false, err
		case w == 0:
			return false, io.ErrUnexpectedEOF // the file is shorter than the export
		}
		n -= int64(w)
		return n <= 0, nil
	})
}

// sendMore writes b to the socket with MSG_MORE, so the kernel holds it to go out in one
// segment with the sendfile data that follows.
func sendMore(sock syscall.RawConn, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return rawSend(sock, func(fd int) (bool, error) {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_MORE)
		if err != nil {
			return false, err
		}
		b = b[n:]
		return len(b) == 0, nil
	})
}

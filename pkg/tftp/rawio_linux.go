//go:build linux

package tftp

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO reads and writes a connected, non-blocking socket with raw system calls while the
// poller still does the waiting (syscall.RawConn): a datagram read or write never blocks,
// so it needs none of the runtime's system-call bookkeeping, and a thread the kernel
// pre-empts inside the call keeps its P instead of sysmon handing it elsewhere. It lowers
// the server's CPU for many concurrent transfers (docs/bench/tftp.md).
type rawIO struct {
	rc syscall.RawConn
	// The callbacks are bound once, so a call allocates nothing.
	readFn, writeFn func(fd uintptr) bool

	buf   []byte // the call's buffer, only during the call
	n     int
	errno syscall.Errno
}

func (r *rawIO) init(rc syscall.RawConn) {
	r.rc = rc
	r.readFn = func(fd uintptr) bool { return r.do(unix.SYS_READ, fd) }
	r.writeFn = func(fd uintptr) bool { return r.do(unix.SYS_WRITE, fd) }
}

// do makes one read or write; false (EAGAIN) sends the caller to the poller to wait.
func (r *rawIO) do(trap, fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.buf))), uintptr(len(r.buf)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.errno = int(n), e
		return true
	}
}

// read reads one datagram into b. Errors are what the net package's calls return: a
// *net.OpError for deadlines and a closed socket, an *os.SyscallError for the socket's own
// (ECONNREFUSED when the client's port is closed).
func (r *rawIO) read(b []byte) (int, error) {
	r.buf = b
	return r.result(r.rc.Read(r.readFn), "read")
}

// write sends b as one datagram to the connected peer.
func (r *rawIO) write(b []byte) (int, error) {
	r.buf = b
	return r.result(r.rc.Write(r.writeFn), "write")
}

func (r *rawIO) result(err error, op string) (int, error) {
	r.buf = nil
	if err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError(op, r.errno)
	}
	return r.n, nil
}

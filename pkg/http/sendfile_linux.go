package httpd

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSendfile sends file bodies with raw sendfile(2) calls on the non-blocking socket while
// the poller still does the waiting (syscall.RawConn.Write), as pkg/tftp does for its
// datagrams: net's ReadFrom brackets every sendfile with the runtime's system-call
// bookkeeping, and a call that outlasts a sysmon tick has its P handed to another thread,
// which wakes threads and moves the connection's goroutine between them. A raw call keeps
// its P.
//
// The price is that the P is held for the whole call, so only a range already in the page
// cache goes this way (a probe asks, per piece: cached below): sendfile of an uncached file
// waits for the disk, an SD card on a board, and that wait must go through the runtime's
// path, which hands the P to the other goroutines (DHCP among them) meanwhile.
type rawSendfile struct {
	rc   syscall.RawConn
	conn net.Conn // for the addresses in errors
	fn   func(fd uintptr) bool

	// The call in progress: the file's descriptor, the bytes left and sent, and the error.
	src    uintptr
	remain int64
	sent   int64
	errno  syscall.Errno

	// The page-cache probe's buffer, here so that a call does not allocate it.
	iov      unix.Iovec
	probeBuf [1]byte
}

// noNowait is set when reads cannot be asked not to wait (RWF_NOWAIT: Linux 4.14, and file
// systems that support it): every body then takes net's sendfile.
var noNowait atomic.Bool

// newRawSendfile returns the raw path for c, or nil when c is not a TCP socket.
func newRawSendfile(c net.Conn) *rawSendfile {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSendfile{rc: rc, conn: c}
	s.fn = s.send
	return s
}

// readFrom sends r when it is an *io.LimitedReader around an *os.File whose range is in
// the page cache, updating the reader's N and the file's position as the bytes go. handled
// is false when it sent nothing and the caller must send r its own way; it is true with a
// short count only on an error (or the file's end), as for any ReadFrom.
func (s *rawSendfile) readFrom(r io.Reader) (n int64, handled bool, err error) {
	if s == nil || noNowait.Load() {
		return 0, false, nil
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok || lr.N <= 0 {
		return 0, false, nil
	}
	f, ok := lr.R.(*os.File)
	if !ok {
		return 0, false, nil
	}
	// Fd does not change a regular file's mode; the descriptor stays f's (KeepAlive below).
	src := f.Fd()
	defer runtime.KeepAlive(f)
	if !s.cached(src, lr.N) {
		return 0, false, nil
	}
	s.src, s.remain, s.sent, s.errno = src, lr.N, 0, 0
	werr := s.rc.Write(s.fn)
	n = s.sent
	lr.N -= n
	switch {
	case werr != nil: // deadline, closed connection: net's own errors
		return n, true, werr
	case s.errno == 0:
		return n, true, nil // all sent, or the file ended early (as net's sendfile)
	case n == 0 && (s.errno == unix.EINVAL || s.errno == unix.ENOSYS || s.errno == unix.EOPNOTSUPP):
		return 0, false, nil // not a file sendfile can read: the caller's path copies it
	}
	return n, true, &net.OpError{Op: "sendfile", Net: "tcp", Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(),
		Err: os.NewSyscallError("sendfile", s.errno)}
}

// cached reports whether the next size bytes of the file at fd are in the page cache, as
// far as a probe can tell cheaply: a one-byte read with RWF_NOWAIT of the first and of the
// last byte of the range, which fails with EAGAIN when that page would need the disk (or is
// still being read in). Pages of a sequential download are read in and aged out in order,
// so a range whose both ends are cached has its middle too, short of a rare eviction, which
// costs one disk read with the P held. cachestat(2) would count every page exactly but walks
// them all, as much work again as sendfile's own page-cache lookup. All calls are short and
// never wait for a disk, so they are made raw too.
func (s *rawSendfile) cached(fd uintptr, size int64) bool {
	pos, _, e := unix.RawSyscall(unix.SYS_LSEEK, fd, 0, io.SeekCurrent)
	if e != 0 {
		return false
	}
	return s.probe(fd, int64(pos)) && (size == 1 || s.probe(fd, int64(pos)+size-1))
}

// probe reads the byte at off without waiting for a disk; false when that would wait, at the
// end of the file, and on any error (ENOSYS/EOPNOTSUPP: no such probe on this kernel or file
// system, recorded so that later bodies do not ask).
func (s *rawSendfile) probe(fd uintptr, off int64) bool {
	s.iov = unix.Iovec{Base: &s.probeBuf[0]}
	s.iov.SetLen(1)
	const longBits = int(unsafe.Sizeof(uintptr(0))) * 8
	lo, hi := uintptr(off), uintptr(uint64(off)>>(longBits-1)>>1) // the kernel's pos_l, pos_h
	n, _, e := unix.RawSyscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&s.iov)), 1, lo, hi, unix.RWF_NOWAIT)
	if e == unix.ENOSYS || e == unix.EOPNOTSUPP {
		noNowait.Store(true)
	}
	return e == 0 && n == 1
}

// send is the RawConn.Write callback: sendfile from the file's position until the piece is
// sent (true), the socket is full (false: the poller waits for room), or an error (true,
// s.errno).
func (s *rawSendfile) send(fd uintptr) bool {
	for s.remain > 0 {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDFILE, fd, s.src, 0, uintptr(s.remain), 0, 0)
		switch e {
		case 0:
			if n == 0 { // the file ended before the range did
				return true
			}
			s.sent += int64(n)
			s.remain -= int64(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.errno = e
			return true
		}
	}
	return true
}

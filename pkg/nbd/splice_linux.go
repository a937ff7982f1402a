package nbd

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked of a connection's pipe: a READ of up to 1 MiB fits, so one
// splice moves it into the pipe and one more hands it to TCP.
const pipeSize = 1 << 20

// filePipe moves file pages to a socket through a pipe of the connection's own: splice(2)
// from the file into the pipe, then from the pipe into the socket. Pages are referenced, never
// copied, as with sendfile(2); but sendfile's internal pipe holds only 64 KiB, so it handed
// TCP a long read in 64 KiB pieces, each a send and push of its own, where this hands it over
// in pieces of up to 1 MiB.
type filePipe struct{ r, w int }

// newFilePipe returns a pipe of pipeSize, or nil when none can be had (out of descriptors,
// or past the per-user pipe memory limit): the caller falls back to sendfile.
func newFilePipe() *filePipe {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil
	}
	return &filePipe{r: p[0], w: p[1]}
}

func (p *filePipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// send sends n bytes of f from off to the socket. On error the pipe may still hold data and
// must not be used again (the connection is closed anyway).
func (p *filePipe) send(sock syscall.RawConn, f *os.File, off, n int64) error {
	src := int(f.Fd())
	for n > 0 {
		k, err := unix.Splice(src, &off, p.w, nil, int(min(n, pipeSize)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case k == 0:
			return io.ErrUnexpectedEOF // the file is shorter than the export
		}
		n -= int64(k)
		if err := p.drain(sock, int64(k), n > 0); err != nil {
			return err
		}
	}
	return nil
}

// drain moves the k bytes in the pipe into the socket; more says further data follows at once.
func (p *filePipe) drain(sock syscall.RawConn, k int64, more bool) error {
	flags := unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
	if more {
		flags |= unix.SPLICE_F_MORE
	}
	if k <= 0 {
		return nil
	}
	return rawSend(sock, func(fd int) (bool, error) {
		w, err := unix.Splice(p.r, nil, fd, nil, int(k), flags)
		if err != nil {
			return false, err
		}
		k -= int64(w)
		return k <= 0, nil
	})
}

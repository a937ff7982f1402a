package nbd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// transmit serves requests until the client disconnects, the connection fails or the server
// stops it. Requests run concurrently (up to MaxInFlight); replies carry their handle.
func (c *conn) transmit() error {
	c.bw = newReplyWriter(c)
	slots := make(chan struct{}, c.s.cfg.MaxInFlight)
	defer func() {
		// Wait for every in-flight request before the store goes away, and send the
		// replies still held: DISC and a stop both answer what came before them.
		for range cap(slots) {
			slots <- struct{}{}
		}
		c.flushHeld()
	}()
	c.sock = sockOf(c.nc)
	var hdr [requestLen]byte
	var small []byte
	for {
		if c.br.Buffered() < requestLen {
			c.flushHeld()
		}
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || c.stopping() || c.broken.Load() {
				return nil
			}
			return err
		}
		r, err := ParseRequest(hdr[:])
		if err != nil {
			return fmt.Errorf("request: %w", err)
		}
		if c.debug {
			c.s.log.Debug("nbd: request", "remote", c.remote.String(), "type", r.Type, "flags", r.Flags, "handle", r.Handle, "offset", r.Offset, "len", r.Length)
		}
		if r.Type == CmdDisc {
			return nil
		}
		if errno := r.Check(c.size, c.flags); errno != 0 {
			if r.Type == CmdWrite {
				// Skip the payload through a small buffer; the connection stays in step.
				if err := c.payload(func() error { _, err := io.CopyN(io.Discard, c.br, int64(r.Length)); return err }); err != nil {
					return err
				}
			}
			c.reply(r.Handle, errno, nil)
			continue
		}
		if r.Type == CmdRead && r.Length <= inlineMax && !c.sendfileFor(r) {
			// A short read costs less than handing it to another goroutine, so the
			// reader serves it itself; its reply leaves with the rest of the burst.
			if small == nil {
				small = make([]byte, inlineMax)
			}
			b := small[:r.Length]
			if err := c.st.ReadAt(b, int64(r.Offset)); err != nil {
				c.replyHeld(r.Handle, c.errno(err), nil)
				continue
			}
			c.read.Add(int64(r.Length))
			c.replyHeld(r.Handle, 0, b)
			continue
		}
		if r.Type == CmdRead && c.sendfileFor(r) {
			// A long read from a file is two splices by the reader itself: the socket
			// takes one reply at a time anyway, and a goroutine per read only added
			// hand-offs at the reply lock (and scheduler wake-ups) per request.
			c.readReq(r)
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-c.stopped:
			return nil
		}
		if r.Type == CmdWrite {
			if err := c.write(r, slots); err != nil {
				return err
			}
			continue
		}
		go func() {
			defer func() { <-slots }()
			switch r.Type {
			case CmdRead:
				c.readReq(r)
			default:
				c.reply(r.Handle, c.other(r), nil)
			}
		}()
	}
}

func (c *conn) stopping() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}

// payload runs a read of request data under the I/O timeout.
func (c *conn) payload(f func() error) error {
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	err := f()
	if c.stopping() {
		c.nc.SetReadDeadline(time.Now())
	} else {
		c.nc.SetReadDeadline(time.Time{})
	}
	return err
}

// write reads a WRITE's payload and stores it: up to one chunk in a buffer handed to a
// goroutine, longer ones chunk by chunk on the reading goroutine.
func (c *conn) write(r Request, slots chan struct{}) error {
	n := int(r.Length)
	take := int64(min(n, chunkSize))
	if !c.s.buf.acquire(take, c.stopped) {
		<-slots
		return nil
	}
	bp := c.s.pool.get(int(take))
	buf := (*bp)[:take]
	done := func() { c.s.pool.put(bp); c.s.buf.release(take); <-slots }
	if n <= chunkSize {
		if err := c.payload(func() error { _, err := io.ReadFull(c.br, buf); return err }); err != nil {
			done()
			return err
		}
		go func() {
			defer done()
			c.reply(r.Handle, c.store(r, buf), nil)
		}()
		return nil
	}
	defer done()
	var errno uint32
	off := int64(r.Offset)
	for left := n; left > 0; {
		k := min(left, chunkSize)
		if err := c.payload(func() error { _, err := io.ReadFull(c.br, buf[:k]); return err }); err != nil {
			return err
		}
		if errno == 0 {
			errno = c.store(Request{Type: CmdWrite, Offset: uint64(off), Length: uint32(k)}, buf[:k])
		}
		off += int64(k)
		left -= k
	}
	if errno == 0 && r.Flags&CmdFlagFUA != 0 {
		errno = c.errno(c.st.Flush())
	}
	c.reply(r.Handle, errno, nil)
	return nil
}

// store writes one buffer, flushing it when the client asked for FUA.
func (c *conn) store(r Request, p []byte) uint32 {
	if err := c.st.WriteAt(p, int64(r.Offset)); err != nil {
		return c.errno(err)
	}
	c.written.Add(int64(len(p)))
	if r.Flags&CmdFlagFUA != 0 {
		return c.errno(c.st.Flush())
	}
	return 0
}

// other runs FLUSH, TRIM and WRITE_ZEROES.
func (c *conn) other(r Request) uint32 {
	var err error
	switch r.Type {
	case CmdFlush:
		return c.errno(c.st.Flush())
	case CmdTrim:
		err = c.st.Trim(int64(r.Offset), int64(r.Length))
	case CmdWriteZeroes:
		err = c.st.Zero(int64(r.Offset), int64(r.Length))
	}
	if err == nil && r.Flags&CmdFlagFUA != 0 {
		err = c.st.Flush()
	}
	return c.errno(err)
}

// readReq answers a READ: the first chunk is read before the reply starts so an error can
// still be reported; later chunks of a long read stream behind it.
func (c *conn) readReq(r Request) {
	n := int(r.Length)
	take := int64(min(n, chunkSize))
	if n == 0 {
		c.reply(r.Handle, 0, nil)
		return
	}
	if c.sendfileFor(r) {
		c.read.Add(int64(n))
		c.replySendfile(r.Handle, c.st.(fileRanges), int64(r.Offset), int64(n))
		return
	}
	if !c.s.buf.acquire(take, c.stopped) {
		c.reply(r.Handle, EIO, nil)
		return
	}
	bp := c.s.pool.get(int(take))
	defer func() { c.s.pool.put(bp); c.s.buf.release(take) }()
	buf := (*bp)[:take]
	off := int64(r.Offset)
	if err := c.st.ReadAt(buf, off); err != nil {
		c.reply(r.Handle, c.errno(err), nil)
		return
	}
	c.read.Add(int64(n))
	if n <= chunkSize {
		c.reply(r.Handle, 0, buf)
		return
	}
	c.replyStream(r.Handle, buf, func(p []byte, at int64) error { return c.st.ReadAt(p, off+at) }, n)
}

// errno maps a storage error to the NBD error the client sees.
func (c *conn) errno(err error) uint32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return ENOSPC
	case errors.Is(err, os.ErrPermission):
		return EPERM
	}
	c.s.log.Warn("nbd: I/O error", "remote", c.remote.String(), "export", c.export, "err", err)
	return EIO
}

// inlineMax is the longest READ the reading goroutine serves itself; sendfileMin the
// shortest sent with sendfile, below which a copy through the reply buffer is cheaper.
const (
	inlineMax   = 16 << 10
	sendfileMin = 64 << 10
)

// sendfileFor reports whether a READ goes out with sendfile.
func (c *conn) sendfileFor(r Request) bool {
	if r.Length < sendfileMin || c.sock == nil {
		return false
	}
	_, ok := c.st.(fileRanges)
	return ok && c.fileBacked
}

package nbd

import (
	"bufio"
	"os"
	"time"
)

func newReplyWriter(c *conn) *bufio.Writer { return bufio.NewWriterSize(c.nc, writeBufSize) }

// lockWriter takes the reply writer; unlockWriter flushes when no other reply is waiting, so
// a burst of small replies leaves in few system calls.
func (c *conn) lockWriter() {
	c.pending.Add(1)
	c.wmu.Lock()
	c.pending.Add(-1)
}

func (c *conn) unlockWriter() { c.unlockWriterFlush(c.pending.Load() == 0) }

// unlockWriterFlush releases the writer, flushing first when asked.
func (c *conn) unlockWriterFlush(flush bool) {
	if flush && c.bw.Buffered() > 0 && !c.broken.Load() {
		c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
		if err := c.bw.Flush(); err != nil {
			c.fail()
		}
	}
	c.wmu.Unlock()
}

// fail marks the connection broken and closes it, which ends the reading loop.
func (c *conn) fail() {
	if c.broken.CompareAndSwap(false, true) {
		c.nc.Close()
	}
}

// reply sends a simple reply, with data for a successful READ.
func (c *conn) reply(handle uint64, errno uint32, data []byte) {
	c.lockWriter()
	defer c.unlockWriter()
	c.put(handle, errno, data)
}

// replyHeld queues a reply from the reading goroutine without flushing: the reader flushes
// once it has no further request buffered, so a burst of small replies leaves together.
func (c *conn) replyHeld(handle uint64, errno uint32, data []byte) {
	c.lockWriter()
	c.put(handle, errno, data)
	c.unlockWriterFlush(false)
}

// flushHeld sends what replyHeld queued; the reader calls it before it may block.
func (c *conn) flushHeld() {
	c.lockWriter()
	c.unlockWriterFlush(true)
}

// put writes one reply into the buffer; the writer is held.
func (c *conn) put(handle uint64, errno uint32, data []byte) {
	var h [simpleReplyLen]byte
	PutSimpleReply(h[:], errno, handle)
	if c.broken.Load() {
		return
	}
	if len(data) > c.bw.Available() {
		c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	}
	if _, err := c.bw.Write(h[:]); err != nil {
		c.fail()
		return
	}
	if _, err := c.bw.Write(data); err != nil {
		c.fail()
	}
}

// replyStream sends a successful READ longer than one chunk: first (already read) then the
// rest read chunk by chunk into the same buffer. An error after the header has gone out
// cannot be reported, so the connection is closed.
func (c *conn) replyStream(handle uint64, first []byte, readAt func(p []byte, at int64) error, n int) {
	var h [simpleReplyLen]byte
	PutSimpleReply(h[:], 0, handle)
	c.lockWriter()
	defer c.unlockWriter()
	if c.broken.Load() {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.bw.Write(h[:]); err != nil {
		c.fail()
		return
	}
	buf := first
	for at := 0; at < n; {
		if at > 0 {
			buf = first[:min(len(first), n-at)]
			if err := readAt(buf, int64(at)); err != nil {
				c.s.log.Warn("nbd: read failed mid-reply, closing", "remote", c.remote.String(), "err", err)
				c.fail()
				return
			}
			c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
		}
		if _, err := c.bw.Write(buf); err != nil {
			c.fail()
			return
		}
		at += len(buf)
	}
}

// replySendfile answers a long successful READ from file-backed storage: the header goes out
// through the buffer, the data straight from the page cache through the connection's pipe
// (made at the first long READ), or with sendfile when it has none. An error after the
// header cannot be reported, so the connection is closed.
func (c *conn) replySendfile(handle uint64, fr fileRanges, off, n int64) {
	var h [simpleReplyLen]byte
	PutSimpleReply(h[:], 0, handle)
	c.lockWriter()
	defer c.unlockWriter()
	if c.broken.Load() {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			c.fail()
			return
		}
	}
	if err := sendMore(c.sock, h[:]); err != nil {
		c.fail()
		return
	}
	if c.pipe == nil && !c.noPipe {
		c.pipe = newFilePipe()
		c.noPipe = c.pipe == nil
	}
	send := func(f *os.File, off, n int64) error {
		if c.pipe != nil {
			return c.pipe.send(c.sock, f, off, n)
		}
		return sendFile(c.sock, f, off, n)
	}
	if _, err := fr.ranges(off, n, send); err != nil {
		c.s.log.Warn("nbd: sending file data failed, closing", "remote", c.remote.String(), "err", err)
		c.fail()
	}
}

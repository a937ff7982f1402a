package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// Progress events are rate-limited per transfer (docs/DESIGN.md).
const (
	progressEvery = 250 * time.Millisecond
	progressBytes = 1 << 20
	// maxBackoff bounds the retransmission interval once doubling has grown it.
	maxBackoff = 30 * time.Second
	// progressBlocks is how many new blocks a client must acknowledge within IdleTimeout
	// (unless the file ends first) for the transfer to count as progressing: a client
	// acknowledging one block per minute must not hold a slot for the life of a file.
	progressBlocks = 8
	// silentRetries bounds the resends to a client that has not answered anything yet. Real
	// clients answer the first packet at once; requests from addresses that never answer
	// (a broken or hostile neighbour, spoofed sources) must not hold a slot, while others
	// wait, for the whole backoff.
	silentRetries = 1
)

// Ways a transfer ends early.
var (
	errTimeout = errors.New("timed out waiting for ACK")
	errSilent  = errors.New("no answer from the client")
	errIdle    = errors.New("no progress")
	errAborted = errors.New("server shutting down")
	errGone    = errors.New("client port unreachable")
)

// clientError is an ERROR packet the client sent.
type clientError struct {
	code ErrorCode
	msg  string
}

func (e *clientError) Error() string { return fmt.Sprintf("client sent ERROR %d %q", e.code, e.msg) }

// transfer is the send side of one RRQ.
type transfer struct {
	s       *Server
	ctx     context.Context
	conn    packetConn
	client  netip.AddrPort
	file    File
	size    int64 // bytes to send; -1 while unknown (netascii without tsize)
	blksize int64
	window  int64
	timeout time.Duration
	retries int
	idle    time.Duration
	buf     []byte
	rbuf    [recvBufSize]byte // what the client sends; buf holds the read-ahead meanwhile
	oack    []Option
	debug   bool
	log     *slog.Logger
	ev      events.Event // template for this transfer's events

	start        time.Time
	acked        int64     // highest block acknowledged
	retrans      int       // packets sent more than once
	lastProgress time.Time // when progressFrom was set
	progressFrom int64     // acked at lastProgress
	lastEvTime   time.Time
	lastEvBytes  int64

	// Read-ahead for one block at a time (lock-step): blocks raFirst up to raEnd (not
	// included) were read with one ReadAt, their payloads back to back from buf[4:], and
	// each block's header is written over the last 4 bytes of the payload before it when
	// that block goes out. raHdr is the last block whose header was written: blocks before
	// it have lost their tail and are read again if ever needed.
	raFirst, raEnd, raHdr int64
}

// recvBufSize holds an ACK, or an ERROR with a message of up to 512 bytes; a longer
// datagram is cut short, which changes nothing for either.
const recvBufSize = 4 + 512 + 1

// readAheadBytes bounds one read-ahead: one ReadAt serves blksize 1468 for 11 blocks, 512
// for 32, instead of a read system call per block. It stays well under the 64 KiB packet
// buffer because only the pages a transfer touches count towards the server's memory.
const readAheadBytes = 16 << 10

// bytesDone is how much of the file the client has acknowledged.
func (t *transfer) bytesDone() int64 {
	if t.acked <= 0 {
		return 0
	}
	if t.size < 0 {
		return t.acked * t.blksize
	}
	return min(t.acked*t.blksize, t.size)
}

// nblocks is the number of DATA blocks: the last one is short, possibly empty. While the
// size is unknown it is "more than any block number".
func (t *transfer) nblocks() int64 {
	if t.size < 0 {
		return math.MaxInt64
	}
	return t.size/t.blksize + 1
}

// run sends the file. Block index 0 stands for the OACK (when options were accepted), so
// that the OACK and the DATA blocks share one retransmission loop. The wire block number is
// the index modulo 65536, which gives the rollover to 0 after 65535.
func (t *transfer) run() error {
	acked := int64(0)
	if len(t.oack) > 0 {
		acked = -1
	}
	t.acked = acked
	next, sentHi := acked+1, acked
	retries := 0
	heard := false // the client has sent something on this transfer
	t.lastProgress = t.start
	t.progressFrom = acked
	t.lastEvTime = t.start
	for acked < t.nblocks() {
		end := min(acked+t.window, t.nblocks())
		if acked < 0 {
			end = 0 // the OACK goes alone
		}
		for i := next; i <= end; end = min(end, t.nblocks()) { // a read may find the end
			k := int64(1)
			if sw, ok := t.conn.(segmentWriter); ok && i > 0 && end > i && t.size >= 0 {
				var err error
				if k, err = t.sendSegments(sw, i, end); err != nil {
					return err
				}
			}
			if k == 0 || k == 1 {
				if err := t.send(i); err != nil {
					return err
				}
				k = 1
			}
			if i <= sentHi {
				t.retrans += int(min(k, sentHi-i+1)) // counts every packet sent again, after a timeout or a restart
			}
			i += k
		}
		sentHi = max(sentHi, end)

		// Exponential backoff, not capped low: a client that ignores repeats of a block
		// it already acknowledged (atftp, once its one extra ACK was lost) only re-sends
		// its ACK when its own timer runs out, and every repeat we send restarts that
		// timer. Our interval has to outgrow the client's.
		// The wait never outlasts the idle bound: a client's long timeout option must
		// not keep a stalled transfer (and its slot) alive past IdleTimeout.
		wait := min(t.timeout<<min(retries, 6), max(t.timeout, maxBackoff))
		now := time.Now()
		idleLeft := t.idle - now.Sub(t.lastProgress)
		if idleLeft <= 0 {
			return errIdle
		}
		if err := t.conn.SetReadDeadline(now.Add(min(wait, idleLeft))); err != nil {
			return t.connErr(err)
		}
	recv:
		for {
			n, from, err := t.conn.ReadFromUDPAddrPort(t.rbuf[:])
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					// A connected socket reports ICMP errors for its client. Port
					// unreachable: the client closed its port, nothing will come. The
					// others (no route, no ARP reply) may pass; wait on as an
					// unconnected socket would, which never hears of them.
					switch {
					case errors.Is(err, syscall.ECONNREFUSED):
						return errGone
					case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
						continue
					}
					return t.connErr(err)
				}
				if time.Since(t.lastProgress) >= t.idle {
					return errIdle
				}
				retries++
				if !heard && retries > silentRetries {
					return errSilent
				}
				if retries > t.retries {
					return errTimeout
				}
				if t.debug {
					t.log.Debug("tftp timeout, resending", "client", t.client, "from_block", acked+1, "retry", retries)
				}
				next = acked + 1
				break recv
			}
			if from != t.client {
				// RFC 1350: a packet from a wrong transfer id gets ERROR 5; the transfer goes on.
				if t.debug {
					t.log.Debug("tftp packet from unknown transfer id", "client", t.client, "from", from)
				}
				_, _ = t.conn.WriteToUDPAddrPort(AppendError(t.rbuf[:0], ErrUnknownTID, "unknown transfer id"), from)
				continue
			}
			var p Packet
			if p.Decode(t.rbuf[:n]) != nil {
				continue
			}
			heard = true
			switch p.Op {
			case OpACK:
				// Map the 16-bit block number onto the blocks in flight; anything else is
				// a duplicate or stale ACK, which never triggers a resend (RFC 1123
				// §4.2.3.1, the Sorcerer's Apprentice).
				d := int64(p.Block - uint16(acked))
				if d == 0 || d > sentHi-acked {
					if t.debug {
						t.log.Debug("tftp duplicate ACK ignored", "client", t.client, "block", p.Block)
					}
					continue
				}
				acked += d
				t.acked = acked
				retries = 0
				now := time.Now()
				if acked-t.progressFrom >= progressBlocks {
					t.lastProgress, t.progressFrom = now, acked
				}
				t.progress(now)
				// After a whole window the next one starts; an ACK inside the window
				// (the client saw a gap) restarts from the block after it (RFC 7440).
				next = acked + 1
				break recv
			case OpERROR:
				return &clientError{code: p.Code, msg: string(p.Msg)}
			default:
				if t.debug {
					t.log.Debug("tftp unexpected packet ignored", "client", t.client, "op", p.Op)
				}
			}
			if time.Since(t.lastProgress) >= t.idle {
				return errIdle
			}
		}
	}
	return nil
}

// send transmits block i (0 = the OACK).
func (t *transfer) send(i int64) error {
	var pkt []byte
	if i == 0 {
		t.raEnd = 0 // the OACK overwrites the read-ahead
		pkt = AppendOACK(t.buf[:0], t.oack)
	} else {
		off := (i - 1) * t.blksize
		if (t.size < 0 || off < t.size) && (i < t.raFirst || i >= t.raEnd || i < t.raHdr) {
			if err := t.readAhead(i); err != nil { // may learn the size
				return err
			}
		}
		n := t.blksize
		if t.size >= 0 {
			n = min(n, t.size-off)
		}
		if n <= 0 {
			t.raEnd = 0
			PutDataHeader(t.buf, uint16(i))
			pkt = t.buf[:4]
		} else {
			h := (i - t.raFirst) * t.blksize
			PutDataHeader(t.buf[h:], uint16(i))
			t.raHdr = i
			pkt = t.buf[h : h+4+n]
		}
	}
	if t.debug {
		t.log.Debug("tftp send", "client", t.client, "block", i, "bytes", len(pkt))
	}
	if _, err := t.conn.WriteToUDPAddrPort(pkt, t.client); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return t.connErr(err)
		}
		// A full send queue or an ICMP error: the timeout resends.
		if t.debug {
			t.log.Debug("tftp send failed", "client", t.client, "block", i, "err", err)
		}
	}
	return nil
}

// readAhead reads the payloads of block i and of as many blocks after it as readAheadBytes
// and the packet buffer allow, in one ReadAt.
func (t *transfer) readAhead(i int64) error {
	off := (i - 1) * t.blksize
	k := max(1, min(int64(readAheadBytes), int64(len(t.buf)-4))/t.blksize)
	n := k * t.blksize
	if t.size >= 0 {
		n = min(n, t.size-off)
	}
	if m, err := t.file.ReadAt(t.buf[4:4+n], off); int64(m) < n {
		if t.size >= 0 || !errors.Is(err, io.EOF) {
			t.raEnd = 0
			return t.readFailed(i, err)
		}
		t.size, n = off+int64(m), int64(m) // the end of a file of unknown size
	}
	t.raFirst, t.raEnd, t.raHdr = i, i+(n+t.blksize-1)/t.blksize, i
	return nil
}

// readFailed tells the client the file could not be read for block i and returns the
// transfer's error; err is ReadAt's (nil for a short read without one).
func (t *transfer) readFailed(i int64, err error) error {
	if err == nil {
		err = errors.New("short read")
	}
	_, _ = t.conn.WriteToUDPAddrPort(AppendError(t.buf[:0], ErrUndefined, "read error"), t.client)
	return fmt.Errorf("read block %d: %w", i, err)
}

// segmentWriter sends several datagrams of one size in a single call (UDP_SEGMENT).
type segmentWriter interface {
	writeSegments(b []byte, seg int, to netip.AddrPort) (bool, error)
}

// sendSegments sends blocks from..up to end, as many as fit in the packet buffer, laid out
// header and payload after header and payload, in one system call. It returns how many
// blocks it sent; 0 when the connection cannot segment (the caller sends one by one).
func (t *transfer) sendSegments(sw segmentWriter, from, end int64) (int64, error) {
	stride := t.blksize + 4
	k := min(end-from+1, int64(len(t.buf))/stride, maxSegments)
	if k < 2 {
		return 0, nil
	}
	t.raEnd = 0 // the window's layout overwrites the read-ahead
	n := int64(0)
	for j := range k {
		i := from + j
		off := (i - 1) * t.blksize
		n = min(t.blksize, t.size-off)
		b := t.buf[j*stride:]
		PutDataHeader(b, uint16(i))
		if n > 0 {
			if m, err := t.file.ReadAt(b[4:4+n], off); int64(m) < n {
				return 0, t.readFailed(i, err)
			}
		}
		if t.debug {
			t.log.Debug("tftp send", "client", t.client, "block", i, "bytes", 4+n, "segment", j)
		}
	}
	ok, err := sw.writeSegments(t.buf[:(k-1)*stride+4+n], int(stride), t.client)
	if !ok {
		return 0, nil
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, t.connErr(err)
		}
		if t.debug {
			t.log.Debug("tftp send failed", "client", t.client, "block", from, "err", err)
		}
	}
	return k, nil
}

// maxSegments is the kernel's limit of datagrams per UDP_SEGMENT send (UDP_MAX_SEGMENTS).
const maxSegments = 64

func (t *transfer) connErr(err error) error {
	if t.ctx.Err() != nil {
		return errAborted
	}
	return err
}

// progress publishes a rate-limited TransferProgress.
func (t *transfer) progress(now time.Time) {
	if t.s.Events == nil {
		return
	}
	b := t.bytesDone()
	if b-t.lastEvBytes < progressBytes && now.Sub(t.lastEvTime) < progressEvery {
		return
	}
	t.lastEvBytes, t.lastEvTime = b, now
	ev := t.ev
	ev.Kind = events.TransferProgress
	ev.Time = now
	ev.Bytes = b
	ev.Duration = now.Sub(t.start)
	ev.Retrans = t.retrans
	t.s.Events.Publish(ev)
}

// finish publishes the final event and writes the transfer's one log line.
func (t *transfer) finish(err error) {
	d := time.Since(t.start)
	b := t.bytesDone()
	ev := t.ev
	ev.Bytes, ev.Duration, ev.Retrans = b, d, t.retrans
	rate := 0.0
	if d > 0 {
		rate = float64(b) / d.Seconds() / 1e6
	}
	attrs := []any{"client", t.client, "file", t.ev.File, "bytes", b, "size", t.size,
		"duration", d.Round(time.Microsecond), "mbps", fmt.Sprintf("%.2f", rate),
		"options", t.ev.Options, "retransmits", t.retrans}
	if err == nil {
		ev.Kind = events.TransferDone
		t.s.Events.Publish(ev)
		t.log.Info("tftp transfer done", attrs...)
		return
	}
	ev.Kind = events.TransferFailed
	ev.Err = err.Error()
	t.s.Events.Publish(ev)
	var ce *clientError
	switch {
	case errors.As(err, &ce):
		// Quiet: EDK2's tsize probe (ERROR 8) and the Pi's "Early terminate" (ERROR 0)
		// are how those clients work, and any other client abort is the client's call.
		t.log.Debug("tftp transfer ended by client", append(attrs, "code", int(ce.code), "msg", ce.msg)...)
	case errors.Is(err, errAborted), errors.Is(err, errGone):
		t.log.Info("tftp transfer ended", append(attrs, "err", err)...)
	default:
		t.log.Warn("tftp transfer failed", append(attrs, "err", err)...)
	}
}

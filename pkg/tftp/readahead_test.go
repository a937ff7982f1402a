package tftp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// countFile is a File in memory that counts its ReadAt calls and can be cut short.
type countFile struct {
	data  []byte
	reads int
	limit int64 // bytes readable; the file looks truncated beyond (when > 0)
}

func (f *countFile) ReadAt(b []byte, off int64) (int, error) {
	f.reads++
	end := int64(len(f.data))
	if f.limit > 0 {
		end = min(end, f.limit)
	}
	if off >= end {
		return 0, io.EOF
	}
	n := copy(b, f.data[off:end])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *countFile) Size() int64  { return int64(len(f.data)) }
func (f *countFile) Close() error { return nil }

// scriptConn is a client in memory without segmented sends, so every block goes out
// through transfer.send. It checks each DATA payload against the file at that block's
// offset, and answers reads as its script says: an ACK for a block, or a timeout.
type scriptConn struct {
	client  netip.AddrPort
	file    []byte
	blksize int
	sent    []uint16 // DATA block numbers in the order they went out
	errs    []string // ERROR messages sent to the client
	bad     []string
	script  func(c *scriptConn) (ack uint16, timeout bool)
	last    uint16 // highest block sent, for the default script
}

func (c *scriptConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	var p Packet
	if err := p.Decode(b); err != nil {
		c.bad = append(c.bad, err.Error())
		return len(b), nil
	}
	switch p.Op {
	case OpDATA:
		off := (int(p.Block) - 1) * c.blksize
		want := c.file[min(off, len(c.file)):min(off+c.blksize, len(c.file))]
		if !bytes.Equal(p.Data, want) {
			c.bad = append(c.bad, fmt.Sprintf("block %d: payload differs from the file (%d bytes, want %d)", p.Block, len(p.Data), len(want)))
		}
		c.sent = append(c.sent, p.Block)
		c.last = max(c.last, p.Block)
	case OpERROR:
		c.errs = append(c.errs, string(p.Msg))
	}
	return len(b), nil
}

func (c *scriptConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	ack, timeout := c.last, false
	if c.script != nil {
		ack, timeout = c.script(c)
	}
	if timeout {
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	return len(AppendAck(b[:0], ack)), c.client, nil
}

func (c *scriptConn) SetReadDeadline(time.Time) error { return nil }
func (c *scriptConn) Close() error                    { return nil }

// scriptTransfer builds a transfer of a random file of size bytes whose packet buffer is
// bufSize bytes (the server's is BlockSizeMax+4).
func scriptTransfer(t *testing.T, size, blksize, window, bufSize int) (*transfer, *scriptConn, *countFile) {
	t.Helper()
	f := &countFile{data: make([]byte, size)}
	rand.Read(f.data)
	conn := &scriptConn{client: memClient, file: f.data, blksize: blksize}
	return memTransfer(conn, f, size, blksize, window, bufSize), conn, f
}

// TestReadAheadLockStep: one block at a time, the payloads are read readAheadBytes at a
// time (one ReadAt for 11 blocks of 1468, 32 of 512) and every block still carries the
// file's bytes at its offset: the header written over the previous block's tail never
// shows in a block that goes out.
func TestReadAheadLockStep(t *testing.T) {
	for _, tc := range []struct {
		size, blksize, bufSize int
		reads                  int // ReadAt calls expected
	}{
		{0, 512, 516, 0},
		{1, 512, 516, 1},
		{511, 512, 65468, 1},
		{512, 512, 65468, 1},
		{513, 512, 65468, 1},
		{32 * 512, 512, 65468, 1},      // ends on a read-ahead boundary, then the empty block
		{32*512 + 1, 512, 65468, 2},    // one byte into the next read-ahead
		{1000 * 1468, 1468, 65468, 91}, // 1000 blocks, 11 per ReadAt
		{1000*1468 - 7, 1468, 65468, 91},
		{100 * 1468, 1468, 1472, 100}, // a buffer for one block: one ReadAt per block
		{5 * 65464, 65464, 65468, 5},  // a block larger than readAheadBytes
		{3000 * 8, 8, 65468, 2},       // 2048 blocks of 8 per ReadAt
	} {
		t.Run(fmt.Sprintf("size=%d/blksize=%d/buf=%d", tc.size, tc.blksize, tc.bufSize), func(t *testing.T) {
			tr, conn, f := scriptTransfer(t, tc.size, tc.blksize, 1, tc.bufSize)
			if err := tr.run(); err != nil {
				t.Fatal(err)
			}
			if len(conn.bad) > 0 {
				t.Fatalf("%d bad packets, first: %s", len(conn.bad), conn.bad[0])
			}
			if want := tc.size/tc.blksize + 1; len(conn.sent) != want {
				t.Fatalf("%d DATA packets, want %d", len(conn.sent), want)
			}
			if f.reads != tc.reads {
				t.Errorf("%d ReadAt calls, want %d", f.reads, tc.reads)
			}
		})
	}
}

// TestReadAheadResends: a block sent again after a timeout carries the right bytes
// whether or not it is still in the read-ahead, and so does every block of a window
// restarted from inside (an ACK for an earlier block) when the connection cannot send
// segmented windows — the case where later blocks' headers were already written over the
// tails of the blocks sent again.
func TestReadAheadResends(t *testing.T) {
	t.Run("lock-step timeouts", func(t *testing.T) {
		tr, conn, f := scriptTransfer(t, 100*1468, 1468, 1, 65468)
		reads := 0
		conn.script = func(c *scriptConn) (uint16, bool) {
			reads++
			if reads%3 == 0 { // every third wait runs out: the block goes out again
				return 0, true
			}
			return c.last, false
		}
		if err := tr.run(); err != nil {
			t.Fatal(err)
		}
		if len(conn.bad) > 0 {
			t.Fatalf("%d bad packets, first: %s", len(conn.bad), conn.bad[0])
		}
		if len(conn.sent) <= 101 {
			t.Fatalf("%d DATA packets: no block was sent again", len(conn.sent))
		}
		if f.reads != 10 { // 101 blocks, 11 per read; resends come from the read-ahead
			t.Errorf("%d ReadAt calls, want 10", f.reads)
		}
	})
	t.Run("window restarts", func(t *testing.T) {
		tr, conn, _ := scriptTransfer(t, 200*1468, 1468, 4, 65468)
		n := 0
		conn.script = func(c *scriptConn) (uint16, bool) {
			n++
			switch n % 4 {
			case 1: // the client saw a gap after the first block of the window
				return c.last - 3, false
			case 2:
				return 0, true // and the next wait runs out
			}
			return c.last, false
		}
		if err := tr.run(); err != nil {
			t.Fatal(err)
		}
		if len(conn.bad) > 0 {
			t.Fatalf("%d bad packets, first: %s", len(conn.bad), conn.bad[0])
		}
		if len(conn.sent) < 250 {
			t.Fatalf("%d DATA packets: the script caused no restarts", len(conn.sent))
		}
	})
}

// TestReadAheadShortRead: a file that ends before its size said (truncated while served)
// ends the transfer with an error and an ERROR to the client, and sends no block past
// what could be read.
func TestReadAheadShortRead(t *testing.T) {
	tr, conn, f := scriptTransfer(t, 50*512, 512, 1, 65468)
	f.limit = 40*512 + 100
	err := tr.run()
	if err == nil || !strings.Contains(err.Error(), "read block 33") || !errors.Is(err, io.EOF) {
		t.Fatalf("run: %v, want a read error at block 33 (the second read-ahead)", err)
	}
	if len(conn.sent) != 32 || len(conn.errs) != 1 || conn.errs[0] != "read error" {
		t.Fatalf("sent %d blocks and ERRORs %q; want 32 blocks and one \"read error\"", len(conn.sent), conn.errs)
	}
	if len(conn.bad) > 0 {
		t.Fatalf("bad packet: %s", conn.bad[0])
	}
}

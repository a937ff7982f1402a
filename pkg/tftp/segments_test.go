package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// segConn is a perfect windowed client in memory that also accepts segmented sends: it
// splits every writeSegments call at seg bytes, as the kernel does, rebuilds the file from
// the DATA blocks it sees, and answers each read with the ACK for the last block received.
type segConn struct {
	client   netip.AddrPort
	blksize  int
	file     []byte
	last     uint16
	calls    int // writeSegments calls
	segments int // datagrams sent through them
	bad      string
}

func (c *segConn) data(p []byte) {
	if len(p) < 4 || Opcode(binary.BigEndian.Uint16(p)) != OpDATA {
		if len(p) >= 2 && Opcode(binary.BigEndian.Uint16(p)) == OpOACK {
			c.last = 0
		}
		return
	}
	blk := binary.BigEndian.Uint16(p[2:])
	if blk != c.last+1 {
		c.bad = "block " + strconv.Itoa(int(blk)) + " after " + strconv.Itoa(int(c.last))
		return
	}
	if len(p)-4 > c.blksize {
		c.bad = "oversized block"
		return
	}
	c.file = append(c.file, p[4:]...)
	c.last = blk
}

func (c *segConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.data(b)
	return len(b), nil
}

func (c *segConn) writeSegments(b []byte, seg int, _ netip.AddrPort) (bool, error) {
	c.calls++
	for len(b) > 0 {
		n := min(seg, len(b))
		if n < seg && len(b) > n {
			c.bad = "short segment before the last"
		}
		c.data(b[:n])
		c.segments++
		b = b[n:]
	}
	return true, nil
}

func (c *segConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return len(AppendAck(b[:0], c.last)), c.client, nil
}

func (c *segConn) SetReadDeadline(time.Time) error { return nil }
func (c *segConn) Close() error                    { return nil }

// TestSegmentedWindows: windows go out as segmented sends with the right blocks in the
// right order, including the short and the empty last block, block-number rollover, and
// buffers too small for a whole window.
func TestSegmentedWindows(t *testing.T) {
	for _, tc := range []struct {
		size, blksize, window, buf int
	}{
		{0, 1468, 16, 65468},
		{1, 1468, 16, 65468},
		{1468 * 16, 1468, 16, 65468},     // exact windows: an empty last block
		{1468*16 + 1, 1468, 16, 65468},   // one byte into the next window
		{100000, 1468, 4, 65468},         //
		{100000, 1468, 44, 65468},        // 44 × 1472 bytes fill the buffer
		{100000, 1468, 16, 1468*5 + 100}, // a buffer that holds 5 blocks of a 16-block window
		{100000, 1468, 16, 1472},         // room for one block: no segmenting
		{70000 * 8, 8, 64, 65468},        // 70 000 blocks: rollover past 65535
	} {
		name := strconv.Itoa(tc.size) + "/" + strconv.Itoa(tc.blksize) + "/" + strconv.Itoa(tc.window) + "/" + strconv.Itoa(tc.buf)
		t.Run(name, func(t *testing.T) {
			file := make([]byte, tc.size)
			rand.Read(file)
			client := netip.MustParseAddrPort("10.20.0.2:3000")
			conn := &segConn{client: client, blksize: tc.blksize}
			tr := &transfer{
				s: &Server{}, ctx: context.Background(), conn: conn, client: client,
				file: memFile{bytes.NewReader(file)}, size: int64(tc.size),
				blksize: int64(tc.blksize), window: int64(tc.window),
				timeout: time.Second, retries: 5, idle: time.Minute,
				buf: make([]byte, tc.buf), log: slog.New(slog.DiscardHandler),
				oack: []Option{opt("windowsize", tc.window)},
			}
			tr.start = time.Now()
			if err := tr.run(); err != nil {
				t.Fatal(err)
			}
			if conn.bad != "" {
				t.Fatal(conn.bad)
			}
			if !bytes.Equal(conn.file, file) {
				t.Fatalf("client got %d bytes, want the %d of the file", len(conn.file), len(file))
			}
			blocks := tc.size/tc.blksize + 1
			if tc.buf >= 2*(tc.blksize+4) && blocks > 1 && conn.calls == 0 {
				t.Fatal("no segmented sends")
			}
			if tc.buf < 2*(tc.blksize+4) && conn.calls != 0 {
				t.Fatalf("%d segmented sends with room for one block", conn.calls)
			}
			if tr.retrans != 0 {
				t.Fatalf("%d retransmissions counted on a perfect link", tr.retrans)
			}
			t.Logf("%d blocks, %d sends with %d segments", blocks, conn.calls, conn.segments)
		})
	}
}

// TestSegmentedZeroAllocs: the segmented path allocates nothing per block either.
func TestSegmentedZeroAllocs(t *testing.T) {
	client := netip.MustParseAddrPort("10.20.0.2:3000")
	conn := &segConn{client: client, blksize: 1468}
	const size = 10000 * 1468
	tr := &transfer{
		s: &Server{}, ctx: context.Background(), conn: conn, client: client,
		file: memFile{bytes.NewReader(make([]byte, size))}, size: size,
		blksize: 1468, window: 16, timeout: time.Second, retries: 5, idle: time.Minute,
		buf: make([]byte, 65468), log: slog.New(slog.DiscardHandler),
	}
	allocs := testing.AllocsPerRun(3, func() {
		conn.last, conn.file = 0, conn.file[:0]
		tr.start = time.Now()
		if err := tr.run(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per 10 000-block transfer", allocs)
	}
}

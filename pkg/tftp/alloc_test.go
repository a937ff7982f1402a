package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// ackConn is a perfect client in memory: every read returns the ACK for the last block
// written. It lets the engine run without sockets, threads or the poller, so allocation
// counts show the engine's own behaviour and nothing of the runtime's.
type ackConn struct {
	client netip.AddrPort
	last   uint16
	sent   int
}

func (c *ackConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	switch Opcode(binary.BigEndian.Uint16(b)) {
	case OpDATA:
		c.last = binary.BigEndian.Uint16(b[2:])
	case OpOACK:
		c.last = 0
	}
	c.sent++
	return len(b), nil
}

func (c *ackConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return len(AppendAck(b[:0], c.last)), c.client, nil
}

func (c *ackConn) SetReadDeadline(time.Time) error { return nil }
func (c *ackConn) Close() error                    { return nil }

type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

// memClient is the client address of transfers built by memTransfer.
var memClient = netip.MustParseAddrPort("10.20.0.2:3000")

// memTransfer builds a transfer of size bytes of file over conn, a client in memory, with
// a packet buffer of bufSize bytes (the server's is BlockSizeMax+4).
func memTransfer(conn packetConn, file File, size, blksize, window, bufSize int) *transfer {
	return &transfer{
		s:       &Server{},
		ctx:     context.Background(),
		conn:    conn,
		client:  memClient,
		file:    file,
		size:    int64(size),
		blksize: int64(blksize),
		window:  int64(window),
		timeout: time.Second,
		retries: 5,
		idle:    time.Minute,
		buf:     make([]byte, bufSize),
		log:     slog.New(slog.DiscardHandler),
		start:   time.Now(),
	}
}

// engineTransfer builds a transfer of size bytes over an ackConn.
func engineTransfer(size, blksize, window int, oack bool) (*transfer, *ackConn) {
	conn := &ackConn{client: memClient}
	t := memTransfer(conn, memFile{bytes.NewReader(make([]byte, size))}, size, blksize, window, blksize+4)
	if oack {
		t.oack = []Option{{"blksize", strconv.Itoa(blksize)}}
	}
	return t, conn
}

// TestEngineZeroAllocs: the transfer engine's send loop allocates nothing at all, neither
// per block nor per transfer, lock-step or windowed, with or without an OACK.
func TestEngineZeroAllocs(t *testing.T) {
	for _, tc := range []struct {
		blocks, blksize, window int
		oack                    bool
	}{{10, 512, 1, false}, {70000, 512, 1, false}, {10000, 1468, 1, true}, {10000, 1468, 16, true}} {
		tr, conn := engineTransfer(tc.blocks*tc.blksize, tc.blksize, tc.window, tc.oack)
		allocs := testing.AllocsPerRun(3, func() {
			tr.start = time.Now()
			if err := tr.run(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%+v: %v allocations per transfer", tc, allocs)
		}
		if conn.sent < tc.blocks {
			t.Fatalf("%+v: only %d packets sent", tc, conn.sent)
		}
	}
}

// BenchmarkEngine: the engine's own cost for a 1000-block transfer without the network;
// -benchmem shows 0 B/op and 0 allocs/op, ns/block the CPU per DATA block.
func BenchmarkEngine(b *testing.B) {
	for _, w := range []int{1, 16} {
		b.Run("blksize=1468/window="+strconv.Itoa(w), func(b *testing.B) {
			const blocks = 1000
			tr, _ := engineTransfer(blocks*1468, 1468, w, false)
			b.ReportAllocs()
			b.SetBytes(blocks * 1468)
			for b.Loop() {
				tr.start = time.Now()
				if err := tr.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*blocks), "ns/block")
		})
	}
}

// transferAllocs returns the heap allocations of one whole transfer of name (server and
// test client together, both in this process).
func transferAllocs(t testing.TB, srv netip.AddrPort, name string, opts []Option) float64 {
	c := newTestClient(clientConn(t))
	return testing.AllocsPerRun(2, func() {
		if _, err := c.get(srv, name, "octet", opts...); err != nil {
			t.Fatal(err)
		}
	})
}

// TestZeroAllocsPerBlock checks the same end to end, server and client over loopback: a
// transfer of 2000 blocks allocates about as much as one of 40 blocks (what remains is per
// transfer: request parsing, the socket, the file, events and the log line). The runtime
// adds a few dozen allocations of its own now and then (an OS thread for a blocking
// socket); one allocation per block would add 1960.
func TestZeroAllocsPerBlock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "small", 40*1024)
	writeFile(t, dir, "large", 2000*1024)
	_, srv := startServer(t, dir, nil)
	for _, o := range [][]Option{
		{opt("blksize", 1024)},
		{opt("blksize", 1024), opt("windowsize", 8)},
	} {
		small := transferAllocs(t, srv, "small", o)
		large := transferAllocs(t, srv, "large", o)
		perBlock := (large - small) / (2000 - 40)
		t.Logf("opts %v: %.0f allocs for 40 blocks, %.0f for 2000 blocks: %.4f per block", o, small, large, perBlock)
		if large-small > 60 {
			t.Fatalf("steady state allocates: %.0f extra allocations for 1960 extra blocks", large-small)
		}
	}
}

// BenchmarkTransfer measures whole in-process transfers over loopback; -benchmem shows the
// per-transfer allocations, and allocs/block the steady-state cost.
func BenchmarkTransfer(b *testing.B) {
	dir := b.TempDir()
	const size = 4 << 20
	writeFile(b, dir, "f", size)
	_, srv := startServer(b, dir, nil)
	for _, tc := range []struct {
		blk, win int
	}{{512, 1}, {1468, 1}, {1468, 4}, {1468, 16}, {8192, 8}} {
		b.Run("blksize="+strconv.Itoa(tc.blk)+"/window="+strconv.Itoa(tc.win), func(b *testing.B) {
			c := newTestClient(clientConn(b))
			opts := []Option{opt("blksize", tc.blk), opt("windowsize", tc.win)}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.get(srv, "f", "octet", opts...); err != nil {
					b.Fatal(err)
				}
			}
			blocks := float64(size/tc.blk + 1)
			b.ReportMetric(blocks, "blocks/op")
		})
	}
}

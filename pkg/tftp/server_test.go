package tftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

// testLogger sends server logs to t.Log at debug level when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeFile creates dir/name with size pseudo-random bytes and returns them.
func writeFile(t testing.TB, dir, name string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// startServer serves dir on 127.0.0.1 and stops the server at cleanup.
func startServer(t testing.TB, dir string, tweak func(*Server)) (*Server, netip.AddrPort) {
	t.Helper()
	src, err := NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	s := &Server{Source: src, Logger: testLogger(t), Timeout: 100 * time.Millisecond}
	if tweak != nil {
		tweak(s)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		conn.Close()
	})
	return s, conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func clientConn(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func opt(name string, v int) Option { return Option{Name: name, Value: strconv.Itoa(v)} }

func TestGetSizes(t *testing.T) {
	dir := t.TempDir()
	_, srv := startServer(t, dir, nil)
	sizes := []int{0, 1, 7, 8, 9, 511, 512, 513, 1024, 1467, 1468, 1469, 2936, 100_000}
	for _, size := range sizes {
		want := writeFile(t, dir, "f"+strconv.Itoa(size), size)
		sum := sha256.Sum256(want)
		for _, o := range [][]Option{
			nil,
			{opt("blksize", 8)},
			{opt("blksize", 1468), opt("tsize", 0)},
			{opt("blksize", 1468), opt("windowsize", 4)},
			{opt("BlkSize", 512), opt("WINDOWSIZE", 16), opt("timeout", 1)},
		} {
			res, err := newTestClient(clientConn(t)).get(srv, "f"+strconv.Itoa(size), "octet", o...)
			if err != nil {
				t.Fatalf("size %d opts %v: %v", size, o, err)
			}
			if res.size != int64(size) || res.sum != sum {
				t.Fatalf("size %d opts %v: got %d bytes, sha256 match %v", size, o, res.size, res.sum == sum)
			}
		}
	}
}

func TestOACKContents(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 3000)
	_, srv := startServer(t, dir, func(s *Server) { s.WindowSizeMax = 8 })
	tests := []struct {
		name string
		opts []Option
		want string // rendered OACK; "" = no OACK
	}{
		{"none", nil, ""},
		{"unknown only", []Option{{"multicast", ""}, {"foo", "1"}}, ""},
		{"blksize too small", []Option{opt("blksize", 7)}, ""},
		{"blksize clamped to max", []Option{opt("blksize", 70000)}, "blksize=65464"},
		{"blksize as asked", []Option{opt("blksize", 1432)}, "blksize=1432"},
		{"tsize", []Option{opt("tsize", 0)}, "tsize=3000"},
		{"timeout echoed", []Option{opt("timeout", 3)}, "timeout=3"},
		{"timeout out of range", []Option{opt("timeout", 0), opt("TIMEOUT", 300)}, ""},
		{"windowsize capped", []Option{opt("windowsize", 64)}, "windowsize=8"},
		{"case-insensitive, order kept", []Option{opt("TSIZE", 0), opt("BlkSize", 1024), {"x", "y"}}, "tsize=3000 blksize=1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newTestClient(clientConn(t)).get(srv, "f", "octet", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			n := Negotiated{OACK: res.oack}
			if got := n.String(); got != tt.want {
				t.Fatalf("OACK %q, want %q", got, tt.want)
			}
			if res.size != 3000 {
				t.Fatalf("got %d bytes", res.size)
			}
		})
	}
}

func TestNetascii(t *testing.T) {
	dir := t.TempDir()
	in := "line one\nline two\r\nbare\rcr\n\n"
	if err := os.WriteFile(filepath.Join(dir, "t.txt"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "line one\r\nline two\r\x00\r\nbare\r\x00cr\r\n\r\n"
	_, srv := startServer(t, dir, nil)
	for _, o := range [][]Option{nil, {opt("blksize", 8), opt("tsize", 0)}, {opt("blksize", 8), opt("windowsize", 3)}} {
		res, err := newTestClient(clientConn(t)).get(srv, "t.txt", "NetASCII", o...)
		if err != nil {
			t.Fatal(err)
		}
		if res.sum != sha256.Sum256([]byte(want)) || res.size != int64(len(want)) {
			t.Fatalf("opts %v: got %d bytes, want %d (translated)", o, res.size, len(want))
		}
		for _, oo := range res.oack {
			if oo.Name == "tsize" && oo.Value != strconv.Itoa(len(want)) {
				t.Fatalf("tsize %s, want translated size %d", oo.Value, len(want))
			}
		}
	}
}

func TestNetasciiReadAtRewind(t *testing.T) {
	dir := t.TempDir()
	src := strings.Repeat("ab\ncd\r", 400)
	os.WriteFile(filepath.Join(dir, "x"), []byte(src), 0o644)
	f, err := os.Open(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	n := newNetascii(&osFile{File: f, size: int64(len(src))})
	defer n.Close()
	want := strings.NewReplacer("\n", "\r\n", "\r", "\r\x00").Replace(src)
	if n.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", n.Size(), len(want))
	}
	// Forward, backward (a retransmission) and forward again.
	for _, off := range []int64{0, 700, 100, 1500, 1499, int64(len(want)) - 5} {
		p := make([]byte, 10)
		m, err := n.ReadAt(p, off)
		wantPart := want[off:min(off+10, int64(len(want)))]
		if string(p[:m]) != wantPart || (m < 10 && !errors.Is(err, io.EOF)) {
			t.Fatalf("ReadAt(%d) = %q, %v; want %q", off, p[:m], err, wantPart)
		}
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	writeFile(t, root, "ok.bin", 10)
	writeFile(t, root, "sub/inner.bin", 10)
	writeFile(t, dir, "secret", 10)
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(root, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, "sysetc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(root, "zero")); err != nil {
		t.Fatal(err)
	}
	_, srv := startServer(t, root, nil)
	tests := []struct {
		name, mode string
		op         Opcode
		code       ErrorCode
	}{
		{"missing.bin", "octet", OpRRQ, ErrFileNotFound},
		{"ok.bin", "octet", OpWRQ, ErrAccessViolation},
		{"new.bin", "octet", OpWRQ, ErrAccessViolation},
		{"ok.bin", "mail", OpRRQ, ErrIllegalOperation},
		{"../secret", "octet", OpRRQ, ErrAccessViolation},
		{"../../../../etc/passwd", "octet", OpRRQ, ErrAccessViolation},
		{`..\secret`, "octet", OpRRQ, ErrAccessViolation},
		{`..\..\..\etc\passwd`, "octet", OpRRQ, ErrAccessViolation},
		{"sub/../../secret", "octet", OpRRQ, ErrAccessViolation},
		{`sub\..\..\secret`, "octet", OpRRQ, ErrAccessViolation},
		{"./../secret", "octet", OpRRQ, ErrAccessViolation},
		{"sub/./../../secret", "octet", OpRRQ, ErrAccessViolation},
		{"/../secret", "octet", OpRRQ, ErrAccessViolation},
		{"..", "octet", OpRRQ, ErrAccessViolation},
		{"/etc/passwd", "octet", OpRRQ, ErrFileNotFound}, // leading / stripped: root/etc/passwd
		{"//etc//shadow", "octet", OpRRQ, ErrFileNotFound},
		{`C:\Windows\win.ini`, "octet", OpRRQ, ErrFileNotFound},
		{"/proc/self/environ", "octet", OpRRQ, ErrFileNotFound},
		{"escape", "octet", OpRRQ, ErrAccessViolation},        // absolute symlink out of the root
		{"escape-rel", "octet", OpRRQ, ErrAccessViolation},    // relative symlink out of the root
		{"sysetc/passwd", "octet", OpRRQ, ErrAccessViolation}, // through a symlinked directory
		{"zero", "octet", OpRRQ, ErrAccessViolation},          // a device, via a symlink
		{"sub", "octet", OpRRQ, ErrAccessViolation},           // a directory
		{"/", "octet", OpRRQ, ErrAccessViolation},
		{strings.Repeat("a", 300), "octet", OpRRQ, ErrAccessViolation},
		{strings.Repeat("../", 200) + "etc/passwd", "octet", OpRRQ, ErrAccessViolation},
		{"sub/" + strings.Repeat("b", 260), "octet", OpRRQ, ErrAccessViolation},
		{"sub/" + strings.Repeat("c", 250), "octet", OpRRQ, ErrFileNotFound}, // long but legal
		{"ok.bin/x", "octet", OpRRQ, ErrFileNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.op.String()+" "+tt.name[:min(len(tt.name), 40)], func(t *testing.T) {
			code, msg, data := rawRequest(t, srv, AppendRequest(nil, &RequestPacket{Op: tt.op, Filename: tt.name, Mode: tt.mode}))
			if data != nil {
				t.Fatalf("got DATA %q, want ERROR %d", data, tt.code)
			}
			if code != tt.code {
				t.Fatalf("ERROR %d %q, want %d", code, msg, tt.code)
			}
			if bytes.Contains([]byte(msg), []byte("secret")) || bytes.Contains([]byte(msg), []byte(dir)) {
				t.Fatalf("error message leaks: %q", msg)
			}
		})
	}
	// ERROR 1 comes before any OACK (PXELINUX handles late errors badly).
	t.Run("missing with options", func(t *testing.T) {
		code, _, data := rawRequest(t, srv, AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "missing.bin", Mode: "octet",
			Options: []Option{opt("tsize", 0), opt("blksize", 1468)}}))
		if data != nil || code != ErrFileNotFound {
			t.Fatalf("got ERROR %d data %q, want ERROR 1 and no OACK", code, data)
		}
	})
	// Raw packets a client cannot build with a normal name: NUL inside the name (the rest
	// reads as the mode), no mode, an empty name.
	for name, pkt := range map[string][]byte{
		"NUL in name": []byte("\x00\x01ok.bin\x00/../secret\x00octet\x00"),
		"no mode":     []byte("\x00\x01ok.bin\x00"),
		"empty name":  []byte("\x00\x01\x00octet\x00"),
		"short":       []byte("\x00"),
		"DATA opcode": []byte("\x00\x03\x00\x01hello"),
	} {
		t.Run(name, func(t *testing.T) {
			code, msg, data := rawRequest(t, srv, pkt)
			if data != nil || code != ErrIllegalOperation {
				t.Fatalf("got ERROR %d %q data %q, want ERROR 4", code, msg, data)
			}
		})
	}
}

// rawRequest sends pkt to srv and returns the ERROR code and message, or the first DATA.
func rawRequest(t testing.TB, srv netip.AddrPort, pkt []byte) (ErrorCode, string, []byte) {
	t.Helper()
	c := clientConn(t)
	if _, err := c.WriteToUDPAddrPort(pkt, srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if from == srv {
		t.Fatalf("answer came from the listening port, not a fresh transfer id")
	}
	var p Packet
	if err := p.Decode(buf[:n]); err != nil {
		t.Fatal(err)
	}
	switch p.Op {
	case OpERROR:
		return p.Code, string(p.Msg), nil
	case OpDATA, OpOACK:
		c.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "test done"), from)
		return 0, "", append([]byte{}, buf[:n]...)
	}
	t.Fatalf("unexpected %v", p.Op)
	return 0, "", nil
}

func TestLowercaseFallback(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pxelinux.0", 100)
	for _, lower := range []bool{false, true} {
		var opts []DirOption
		if lower {
			opts = append(opts, WithLowercaseFallback())
		}
		src, err := NewDirSource(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		f, err := src.Open(&Request{Path: "PXELINUX.0"})
		if lower {
			if err != nil || f.Size() != 100 {
				t.Fatalf("fallback: %v", err)
			}
			f.Close()
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("without fallback: %v, want not-exist", err)
		}
		src.Close()
	}
}

// TestWrongTID: a packet from another port gets ERROR 5 and the real transfer finishes.
func TestWrongTID(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 5000)
	_, srv := startServer(t, dir, nil)
	c := clientConn(t)
	stranger := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	buf := make([]byte, 1024)
	var got []byte
	for block := uint16(1); ; block++ {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if p.Decode(buf[:n]); p.Op != OpDATA || p.Block != block {
			t.Fatalf("got %v block %d, want DATA %d", p.Op, p.Block, block)
		}
		got = append(got, p.Data...)
		if block == 3 {
			stranger.WriteToUDPAddrPort(AppendAck(nil, 3), from)
			stranger.SetReadDeadline(time.Now().Add(3 * time.Second))
			m, _, err := stranger.ReadFromUDPAddrPort(buf[512:])
			if err != nil {
				t.Fatalf("stranger got no answer: %v", err)
			}
			var e Packet
			if e.Decode(buf[512 : 512+m]); e.Op != OpERROR || e.Code != ErrUnknownTID {
				t.Fatalf("stranger got %v code %d, want ERROR 5", e.Op, e.Code)
			}
		}
		c.WriteToUDPAddrPort(AppendAck(nil, block), from)
		if len(p.Data) < 512 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
}

// TestDuplicateAckNoResend: a duplicate ACK must not cause a resend (Sorcerer's
// Apprentice); only the timeout does.
func TestDuplicateAckNoResend(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 5000)
	_, srv := startServer(t, dir, func(s *Server) { s.Timeout = 400 * time.Millisecond })
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	buf := make([]byte, 1024)
	read := func(wait time.Duration) (Packet, netip.AddrPort, bool) {
		c.SetReadDeadline(time.Now().Add(wait))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return Packet{}, from, false
		}
		var p Packet
		p.Decode(buf[:n])
		return p, from, true
	}
	p, from, ok := read(2 * time.Second)
	if !ok || p.Block != 1 {
		t.Fatal("no DATA 1")
	}
	c.WriteToUDPAddrPort(AppendAck(nil, 1), from)
	start := time.Now()
	if p, _, ok = read(2 * time.Second); !ok || p.Block != 2 {
		t.Fatal("no DATA 2")
	}
	// Duplicate ACKs for block 1, then silence: DATA 2 may come again only after the
	// 400 ms timeout, and exactly once per timeout.
	for range 5 {
		c.WriteToUDPAddrPort(AppendAck(nil, 1), from)
	}
	p, _, ok = read(2 * time.Second)
	if !ok || p.Block != 2 {
		t.Fatalf("no retransmission of DATA 2")
	}
	if el := time.Since(start); el < 350*time.Millisecond {
		t.Fatalf("DATA 2 resent after %v: a duplicate ACK triggered a resend", el)
	}
	if _, _, ok = read(150 * time.Millisecond); ok {
		t.Fatal("more than one resend")
	}
	c.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "done"), from)
}

// TestWindowRestart: an ACK for an earlier block inside the window restarts from there; a
// timeout resends from the block after the last ACK.
func TestWindowRestart(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 512*20)
	_, srv := startServer(t, dir, func(s *Server) { s.Timeout = 300 * time.Millisecond })
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{opt("windowsize", 4)}}), srv)
	buf := make([]byte, 1024)
	readBlocks := func(n int) (blocks []uint16, from netip.AddrPort) {
		for range n {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			m, f, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("after %v: %v", blocks, err)
			}
			var p Packet
			p.Decode(buf[:m])
			blocks = append(blocks, p.Block)
			from = f
		}
		return
	}
	if _, from := readBlocks(1); from.IsValid() { // OACK
		c.WriteToUDPAddrPort(AppendAck(nil, 0), from)
	}
	got, from := readBlocks(4)
	if !equalBlocks(got, 1, 2, 3, 4) {
		t.Fatalf("first window %v", got)
	}
	c.WriteToUDPAddrPort(AppendAck(nil, 2), from) // saw a gap after 2
	if got, _ = readBlocks(4); !equalBlocks(got, 3, 4, 5, 6) {
		t.Fatalf("after ACK 2: %v, want 3..6", got)
	}
	c.WriteToUDPAddrPort(AppendAck(nil, 6), from)
	if got, _ = readBlocks(4); !equalBlocks(got, 7, 8, 9, 10) {
		t.Fatalf("after ACK 6: %v", got)
	}
	// Silence: the timeout resends the window from 7.
	if got, _ = readBlocks(4); !equalBlocks(got, 7, 8, 9, 10) {
		t.Fatalf("after timeout: %v, want 7..10", got)
	}
	c.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "done"), from)
}

func equalBlocks(got []uint16, want ...uint16) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestRollover: block numbers wrap to 0 after 65535, lock-step and windowed.
func TestRollover(t *testing.T) {
	if testing.Short() {
		t.Skip("65k round trips")
	}
	dir := t.TempDir()
	size := 70000*8 + 3
	want := writeFile(t, dir, "big", size)
	_, srv := startServer(t, dir, nil)
	for _, o := range [][]Option{{opt("blksize", 8)}, {opt("blksize", 8), opt("windowsize", 32)}} {
		res, err := newTestClient(clientConn(t)).get(srv, "big", "octet", o...)
		if err != nil {
			t.Fatal(err)
		}
		if res.sum != sha256.Sum256(want) {
			t.Fatalf("opts %v: checksum mismatch after %d bytes", o, res.size)
		}
	}
}

// TestLossy runs transfers through a double that drops, duplicates and reorders packets in
// both directions.
func TestLossy(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 100_000)
	var stats []*lossyConn
	var mu sync.Mutex
	seed := uint64(1)
	_, srv := startServer(t, dir, func(s *Server) {
		s.Timeout = 20 * time.Millisecond
		s.Retries = 50
		s.listen = func(local netip.Addr) (packetConn, error) {
			c, err := listenUDP(local)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			seed++
			l := newLossy(c, seed, 0.10, 0.05, 0.10)
			stats = append(stats, l)
			return l, nil
		}
	})
	for i, o := range [][]Option{
		nil,
		{opt("blksize", 1468)},
		{opt("blksize", 1024), opt("windowsize", 4)},
		{opt("blksize", 512), opt("windowsize", 16)},
	} {
		cl := newTestClient(newLossy(clientConn(t), uint64(100+i), 0.10, 0.05, 0.10))
		cl.timeout = 80 * time.Millisecond
		cl.retries = 50
		res, err := cl.get(srv, "f", "octet", o...)
		if err != nil {
			t.Fatalf("opts %v: %v", o, err)
		}
		if res.sum != sha256.Sum256(want) {
			t.Fatalf("opts %v: checksum mismatch (%d bytes)", o, res.size)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var total lossStats
	for _, l := range stats {
		l.mu.Lock() // transfers whose final ACK was lost may still be retrying
		total.sent += l.stats.sent
		total.dropped += l.stats.dropped
		total.duplicated += l.stats.duplicated
		total.reordered += l.stats.reordered
		l.mu.Unlock()
	}
	t.Logf("server side: %+v", total)
	if total.dropped == 0 || total.duplicated == 0 || total.reordered == 0 {
		t.Fatalf("the double did not exercise loss, duplication and reordering: %+v", total)
	}
}

// TestIdleDrop: a client that keeps sending duplicate ACKs but never progresses is dropped
// after IdleTimeout although every packet arrives well within the retransmission timeout.
func TestIdleDrop(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 5000)
	bus := events.NewBus()
	evs, cancel := bus.Subscribe(64)
	defer cancel()
	s, srv := startServer(t, dir, func(s *Server) {
		s.Timeout = 200 * time.Millisecond
		s.Retries = 100
		s.IdleTimeout = 700 * time.Millisecond
		s.Events = bus
	})
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 3*time.Second && s.Active() > 0 {
		c.WriteToUDPAddrPort(AppendAck(nil, 0), from) // stale, never progress
		time.Sleep(50 * time.Millisecond)
	}
	if s.Active() != 0 {
		t.Fatal("transfer not dropped")
	}
	e := endEvent(t, evs, 2*time.Second)
	if e.Kind != events.TransferFailed || !strings.Contains(e.Err, "no progress") && !strings.Contains(e.Err, "timed out") {
		t.Fatalf("ended with %v %q, want failed: no progress", e.Kind, e.Err)
	}
}

// endEvent returns the first TransferDone or TransferFailed from evs, failing the test
// when none comes within d.
func endEvent(t *testing.T, evs <-chan events.Event, d time.Duration) events.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-evs:
			if e.Kind == events.TransferDone || e.Kind == events.TransferFailed {
				return e
			}
		case <-deadline:
			t.Fatalf("no end of transfer within %v", d)
		}
	}
}

func TestEvents(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "boot.img", 3<<20)
	bus := events.NewBus()
	evs, cancel := bus.Subscribe(256)
	defer cancel()
	_, srv := startServer(t, dir, func(s *Server) { s.Events = bus })
	if _, err := newTestClient(clientConn(t)).get(srv, "boot.img", "octet", opt("blksize", 1468), opt("windowsize", 8), opt("tsize", 0)); err != nil {
		t.Fatal(err)
	}
	// A probe ended by the client (EDK2 style): OACK answered with ERROR 8.
	c := clientConn(t)
	code, _, data := rawRequest(t, srv, AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "boot.img", Mode: "octet", Options: []Option{opt("tsize", 0)}}))
	_, _, _ = code, data, c
	var kinds []events.Kind
	var done, failed events.Event
	deadline := time.After(3 * time.Second)
	for done.Kind == 0 || failed.Kind == 0 {
		select {
		case e := <-evs:
			kinds = append(kinds, e.Kind)
			switch e.Kind {
			case events.TransferDone:
				done = e
			case events.TransferFailed:
				failed = e
			}
		case <-deadline:
			t.Fatalf("events so far: %v", kinds)
		}
	}
	if done.Bytes != 3<<20 || done.Total != 3<<20 || done.File != "boot.img" || done.Proto != "tftp" ||
		done.Options != "blksize=1468 windowsize=8 tsize=3145728" || done.Duration <= 0 || !done.Client.IsValid() {
		t.Fatalf("done event %+v", done)
	}
	progress := 0
	for _, k := range kinds {
		if k == events.TransferProgress {
			progress++
		}
	}
	// 3 MiB with progress at most every 1 MiB or 250 ms.
	if progress < 2 || progress > 40 {
		t.Fatalf("%d progress events: %v", progress, kinds)
	}
	if !strings.Contains(failed.Err, "ERROR 0") && !strings.Contains(failed.Err, "ERROR 8") {
		t.Fatalf("failed event %+v", failed)
	}
}

func TestShutdownGrace(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 256<<10)
	src, _ := NewDirSource(dir)
	defer src.Close()
	s := &Server{Source: src, Logger: testLogger(t)}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), conn) }()
	srv := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	// A slow client: the transfer is still running when Shutdown starts.
	type result struct {
		res *fetchResult
		err error
	}
	got := make(chan result, 1)
	lc := clientConn(t)
	slow := &slowConn{packetConn: lc, delay: time.Millisecond}
	go func() {
		r, err := newTestClient(slow).get(srv, "f", "octet", opt("blksize", 1024))
		got <- result{r, err}
	}()
	for s.Active() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	r := <-got
	if r.err != nil || r.res.sum != sha256.Sum256(want) {
		t.Fatalf("transfer during shutdown: %v", r.err)
	}
	// New requests are no longer answered.
	if err := newTestClient(clientConn(t)).quick(srv); err == nil {
		t.Fatal("request answered after Shutdown")
	}
}

type slowConn struct {
	packetConn
	delay time.Duration
}

func (s *slowConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	time.Sleep(s.delay)
	return s.packetConn.WriteToUDPAddrPort(b, to)
}

// quick sends one RRQ and waits briefly for any answer.
func (c *testClient) quick(srv netip.AddrPort) error {
	c.conn.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), srv)
	c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, err := c.conn.ReadFromUDPAddrPort(make([]byte, 600))
	return err
}

// TestCancelAborts: cancelling Serve's context aborts running transfers promptly.
func TestCancelAborts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", 5000)
	src, _ := NewDirSource(dir)
	defer src.Close()
	s := &Server{Source: src, Logger: testLogger(t), Timeout: 5 * time.Second}
	conn, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, conn) }()
	c := clientConn(t)
	c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "f", Mode: "octet"}), conn.LocalAddr().(*net.UDPAddr).AddrPort())
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return")
	}
	if s.Active() != 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("transfer not aborted promptly (%v, %d active)", time.Since(start), s.Active())
	}
}

// TestConcurrent runs more transfers at once than GOMAXPROCS, so both kinds of transfer
// socket (blocking while few run, poller-driven beyond) serve at the same time.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 300_000)
	sum := sha256.Sum256(want)
	_, srv := startServer(t, dir, nil)
	const n = 12
	errs := make(chan error, n)
	for i := range n {
		go func() {
			o := []Option{opt("blksize", 512+100*i)}
			if i%2 == 1 {
				o = append(o, opt("windowsize", i))
			}
			res, err := newTestClient(clientConn(t)).get(srv, "f", "octet", o...)
			if err == nil && res.sum != sum {
				err = errors.New("checksum mismatch")
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestDuplicateRRQ: a repeated RRQ from the same port for the same file (the Pi re-sends
// it every 2 s; networks duplicate packets) does not start a second transfer; one for
// another file from the same port does.
func TestDuplicateRRQ(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a", 5000)
	writeFile(t, dir, "b", 5000)
	s, srv := startServer(t, dir, func(s *Server) { s.Timeout = 2 * time.Second })
	c := clientConn(t)
	rrq := func(name string) {
		c.WriteToUDPAddrPort(AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: name, Mode: "octet"}), srv)
	}
	buf := make([]byte, 1024)
	read := func() (Packet, netip.AddrPort, bool) {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return Packet{}, from, false
		}
		var p Packet
		p.Decode(buf[:n])
		return p, from, true
	}
	rrq("a")
	p, tidA, ok := read()
	if !ok || p.Op != OpDATA || p.Block != 1 {
		t.Fatal("no DATA 1 for a")
	}
	rrq("a")
	rrq("a")
	if p, from, ok := read(); ok {
		t.Fatalf("duplicate RRQ answered: %v block %d from %v", p.Op, p.Block, from)
	}
	if s.Active() != 1 {
		t.Fatalf("%d transfers, want 1", s.Active())
	}
	rrq("b")
	p, tidB, ok := read()
	if !ok || p.Op != OpDATA || p.Block != 1 || tidB == tidA {
		t.Fatalf("RRQ for b from the same port: %v block %d from %v (a's tid %v)", p.Op, p.Block, tidB, tidA)
	}
	c.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "Early terminate"), tidA)
	c.WriteToUDPAddrPort(AppendError(nil, ErrUndefined, "Early terminate"), tidB)
}

// TestIPv6: the server also answers on an IPv6 socket (the transfer socket is then a
// poller-driven one bound to the same IPv6 address).
func TestIPv6(t *testing.T) {
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	dir := t.TempDir()
	want := writeFile(t, dir, "f", 3000)
	src, _ := NewDirSource(dir)
	defer src.Close()
	s := &Server{Source: src, Logger: testLogger(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, conn)
	defer conn.Close()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &recordingConn{packetConn: c}
	res, err := newTestClient(cl).get(conn.LocalAddr().(*net.UDPAddr).AddrPort(), "f", "octet", opt("blksize", 1024))
	if err != nil {
		t.Fatal(err)
	}
	if res.sum != sha256.Sum256(want) || cl.firstFrom.Addr() != netip.IPv6Loopback() {
		t.Fatalf("checksum ok %v, reply from %v", res.sum == sha256.Sum256(want), cl.firstFrom)
	}
}

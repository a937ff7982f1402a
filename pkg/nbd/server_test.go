package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/events"
)

func TestTransmissionReadOnly(t *testing.T) {
	img, want := testImage(t, 4<<20)
	s, err := New(Config{Default: img})
	if err != nil {
		t.Fatal(err)
	}
	rc := dialGo(t, testServer(t, s), "")
	if rc.size != uint64(len(want)) || rc.flags != FlagHasFlags|FlagReadOnly|FlagSendFlush|FlagCanMultiConn {
		t.Fatalf("size %d flags %#x", rc.size, rc.flags)
	}
	read := func(h uint64, off uint64, n uint32) {
		t.Helper()
		errno, data := rc.do(Request{Type: CmdRead, Handle: h, Offset: off, Length: n}, nil)
		if errno != 0 || !bytes.Equal(data, want[off:off+uint64(n)]) {
			t.Fatalf("read %d+%d: errno %d, data equal %v", off, n, errno, bytes.Equal(data, want[off:off+uint64(n)]))
		}
	}
	read(1, 0, 4096)
	read(2, 12345, 3<<20) // longer than one chunk: streamed
	tests := []struct {
		name string
		r    Request
		body []byte
		want uint32
	}{
		{"past the end", Request{Type: CmdRead, Offset: uint64(len(want)) - 10, Length: 11}, nil, EINVAL},
		{"length 2^31", Request{Type: CmdRead, Length: 1 << 31}, nil, EINVAL},
		{"over max payload", Request{Type: CmdRead, Length: MaxPayload + 1}, nil, EINVAL},
		{"write to read-only", Request{Type: CmdWrite, Length: 3}, []byte("abc"), EPERM},
		{"write over max payload", Request{Type: CmdWrite, Length: MaxPayload + 1}, make([]byte, MaxPayload+1), EINVAL},
		{"trim read-only", Request{Type: CmdTrim, Length: 4096}, nil, EPERM},
		{"unknown command", Request{Type: 42}, nil, EINVAL},
		{"flush", Request{Type: CmdFlush}, nil, 0},
	}
	for i, tt := range tests {
		tt.r.Handle = uint64(100 + i)
		if errno, _ := rc.do(tt.r, tt.body); errno != tt.want {
			t.Errorf("%s: errno %d, want %d", tt.name, errno, tt.want)
		}
		read(uint64(200+i), uint64(i)*4096, 4096) // the connection keeps working
	}
	// Many requests in flight: every reply carries its own handle and data.
	const n = 64
	for i := range n {
		rc.send(Request{Type: CmdRead, Handle: uint64(1000 + i), Offset: uint64(i) * 65536, Length: 65536}, nil)
	}
	seen := map[uint64]bool{}
	for range n {
		h, errno, data := rc.reply(65536)
		off := (h - 1000) * 65536
		if errno != 0 || seen[h] || h < 1000 || h >= 1000+n || !bytes.Equal(data, want[off:off+65536]) {
			t.Fatalf("pipelined reply handle %d errno %d", h, errno)
		}
		seen[h] = true
	}
	// Short reads pipelined with a DISC behind them: all are answered, then the close.
	var burst []byte
	for i := range 3 {
		burst = AppendRequest(burst, Request{Type: CmdRead, Handle: uint64(500 + i), Offset: uint64(i), Length: 100})
	}
	rc.write(AppendRequest(burst, Request{Type: CmdDisc}))
	for i := range 3 {
		if h, errno, data := rc.reply(100); h != uint64(500+i) || errno != 0 || !bytes.Equal(data, want[i:i+100]) {
			t.Fatalf("reply before DISC: handle %d errno %d", h, errno)
		}
	}
	if _, err := rc.br.ReadByte(); err == nil {
		t.Error("connection still open after DISC")
	}
}

func TestHandshakeOptions(t *testing.T) {
	img, _ := testImage(t, 8192)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.img"), make([]byte, 1024), 0o644)
	os.WriteFile(filepath.Join(t.TempDir(), "..", "outside.img"), make([]byte, 512), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "escape.img"))
	os.Symlink(img, filepath.Join(dir, "abs.img"))
	s, err := New(Config{Default: img, ExportsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := testServer(t, s)
	rc := dialRaw(t, addr)

	rc.option(OptList, nil)
	var names []string
	for {
		_, typ, data := rc.optReply()
		if typ != RepServer {
			if typ != RepAck {
				t.Fatalf("LIST ended with %#x", typ)
			}
			break
		}
		names = append(names, string(data[4:]))
	}
	if len(names) == 0 || names[0] != "disk.img" || !contains(names, "sub/b.img") {
		t.Errorf("LIST = %q", names)
	}
	for _, tt := range []struct {
		opt  uint32
		data []byte
		want uint32
	}{
		{OptInfo, infoData("nope"), RepErrUnknown},
		{OptInfo, infoData("../disk.img"), RepErrUnknown},
		{OptInfo, infoData("escape.img"), RepErrUnknown},
		{OptInfo, infoData("abs.img"), RepErrUnknown},
		{OptInfo, []byte{0, 0, 0, 9, 0}, RepErrInvalid},
		{OptList, []byte("x"), RepErrInvalid},
		{OptStartTLS, nil, RepErrUnsup},
		{OptStructuredReply, nil, RepErrUnsup},
		{99, []byte("whatever"), RepErrUnsup},
		{OptInfo, make([]byte, maxOptionData+1), RepErrTooBig},
	} {
		rc.option(tt.opt, tt.data)
		if _, typ, _ := rc.optReply(); typ != tt.want {
			t.Errorf("option %d %q: reply %#x, want %#x", tt.opt, tt.data[:min(len(tt.data), 16)], typ, tt.want)
		}
	}
	rc.option(OptInfo, infoData("sub/b.img", InfoName, InfoBlockSize))
	var gotSize, gotName, gotBlock bool
	for {
		_, typ, data := rc.optReply()
		if typ != RepInfo {
			if typ != RepAck {
				t.Fatalf("INFO reply %#x", typ)
			}
			break
		}
		switch binary.BigEndian.Uint16(data) {
		case InfoExport:
			gotSize = binary.BigEndian.Uint64(data[2:]) == 1024
		case InfoName:
			gotName = string(data[2:]) == "sub/b.img"
		case InfoBlockSize:
			gotBlock = binary.BigEndian.Uint32(data[2:]) == 1 && binary.BigEndian.Uint32(data[6:]) == 4096 && binary.BigEndian.Uint32(data[10:]) == 32<<20
		}
	}
	if !gotSize || !gotName || !gotBlock {
		t.Errorf("INFO: size %v name %v block sizes %v", gotSize, gotName, gotBlock)
	}
	rc.option(OptAbort, nil)
	if _, typ, _ := rc.optReply(); typ != RepAck {
		t.Errorf("ABORT reply %#x", typ)
	}

	// NBD_OPT_EXPORT_NAME without NO_ZEROES gets size, flags and 124 zeroes.
	rc = dialRaw(t, addr)
	rc.c.Close()
	c2 := dialRawFlags(t, addr, clientFixedNewstyle)
	c2.option(OptExportName, []byte("disk.img"))
	b := c2.read(10 + 124)
	if binary.BigEndian.Uint64(b) != 8192 || !bytes.Equal(b[10:], make([]byte, 124)) {
		t.Errorf("EXPORT_NAME reply %x", b[:10])
	}
	if errno, _ := c2.do(Request{Type: CmdRead, Handle: 9, Length: 512}, nil); errno != 0 {
		t.Errorf("read after EXPORT_NAME: %d", errno)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// dialRawFlags connects and sends the given client flags.
func dialRawFlags(t *testing.T, addr string, flags uint32) *rawClient {
	t.Helper()
	rc := dialRaw0(t, addr)
	rc.read(greetingLen)
	rc.write(binary.BigEndian.AppendUint32(nil, flags))
	return rc
}

func TestRefusedClients(t *testing.T) {
	img, _ := testImage(t, 4096)
	s, err := New(Config{Default: img})
	if err != nil {
		t.Fatal(err)
	}
	addr := testServer(t, s)
	for _, flags := range []uint32{0, magicRequest, 1 << 5} {
		rc := dialRawFlags(t, addr, flags)
		if _, err := rc.br.ReadByte(); err == nil {
			t.Errorf("client flags %#x: connection not closed", flags)
		}
	}
}

func TestWriteThroughOneWriter(t *testing.T) {
	img, _ := testImage(t, 1<<20)
	s, err := New(Config{Default: img, Write: true, Cow: false})
	if err != nil {
		t.Fatal(err)
	}
	addr := testServer(t, s)
	w := dialGo(t, addr, "")
	if w.flags&FlagReadOnly != 0 || w.flags&FlagCanMultiConn != 0 {
		t.Errorf("writable export flags %#x", w.flags)
	}
	second := dialRaw(t, addr)
	second.option(OptGo, infoData(""))
	if _, typ, msg := second.optReply(); typ != RepErrPolicy || !bytes.Contains(msg, []byte("one writer")) {
		t.Errorf("second writer: %#x %q", typ, msg)
	}
	if errno, _ := w.do(Request{Type: CmdWrite, Flags: CmdFlagFUA, Handle: 1, Offset: 10, Length: 5}, []byte("hello")); errno != 0 {
		t.Fatalf("write %d", errno)
	}
	b, _ := os.ReadFile(img)
	if string(b[10:15]) != "hello" {
		t.Errorf("image not written through: %q", b[10:15])
	}
	w.send(Request{Type: CmdDisc}, nil)
	w.br.ReadByte()
	// The writer left: a new one may attach.
	for i := 0; ; i++ {
		rc := dialRaw(t, addr)
		typ := rc.goExport("")
		if typ == RepAck {
			break
		}
		if i == 100 {
			t.Fatalf("writer slot never freed: %#x", typ)
		}
	}
}

func TestCowInMemCap(t *testing.T) {
	img, want := testImage(t, 4<<20)
	var mac atomic.Value
	mac.Store("52:54:00:00:00:01")
	s, err := New(Config{Default: img, Write: true, CowInMem: true, CowMemMax: 64 << 10,
		ClientKey: func(netip.Addr) (string, bool) { return mac.Load().(string), true }})
	if err != nil {
		t.Fatal(err)
	}
	addr := testServer(t, s)
	rc := dialGo(t, addr, "disk.img")
	if errno, _ := rc.do(Request{Type: CmdWrite, Handle: 1, Offset: 100, Length: 8192}, bytes.Repeat([]byte{0xee}, 8192)); errno != 0 {
		t.Fatalf("write within cap: %d", errno)
	}
	if errno, _ := rc.do(Request{Type: CmdWrite, Handle: 2, Offset: 1 << 20, Length: 128 << 10}, make([]byte, 128<<10)); errno != ENOSPC {
		t.Errorf("write over cap: errno %d, want ENOSPC", errno)
	}
	if errno, _ := rc.do(Request{Type: CmdWriteZeroes, Handle: 3, Offset: 2 << 20, Length: 1 << 20}, nil); errno != 0 {
		t.Errorf("whole-block zeroes take no overlay memory: errno %d", errno)
	}
	_, data := rc.do(Request{Type: CmdRead, Handle: 4, Offset: 0, Length: 16384}, nil)
	exp := bytes.Clone(want[:16384])
	copy(exp[100:], bytes.Repeat([]byte{0xee}, 8192))
	if !bytes.Equal(data, exp) {
		t.Error("read back after in-memory write differs")
	}
	_, data = rc.do(Request{Type: CmdRead, Handle: 5, Offset: 2 << 20, Length: 4096}, nil)
	if !bytes.Equal(data, make([]byte, 4096)) {
		t.Error("zeroed range does not read as zeroes")
	}
	st := s.Clients()
	if len(st) != 1 || st[0].MAC != "52:54:00:00:00:01" || st[0].OverlayBytes != 12288 || st[0].BytesWritten != 8192 || st[0].Export != "disk.img" {
		t.Errorf("Clients = %+v", st)
	}
	// Another client sees the image as it is.
	mac.Store("52:54:00:00:00:02")
	other := dialGo(t, addr, "")
	if _, data := other.do(Request{Type: CmdRead, Handle: 1, Length: 16384}, nil); !bytes.Equal(data, want[:16384]) {
		t.Error("second client sees the first one's writes")
	}
}

func TestCopyToRAM(t *testing.T) {
	img, want := testImage(t, 1<<20)
	s, err := New(Config{Default: img, CopyToRAM: true})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(img) // served from memory now
	rc := dialGo(t, testServer(t, s), "")
	if _, data := rc.do(Request{Type: CmdRead, Handle: 1, Offset: 5000, Length: 70000}, nil); !bytes.Equal(data, want[5000:75000]) {
		t.Error("read from RAM copy differs")
	}

	huge := filepath.Join(t.TempDir(), "huge.img")
	f, _ := os.Create(huge)
	if err := f.Truncate(1 << 40); err != nil { // sparse: larger than this machine's memory
		t.Fatal(err)
	}
	f.Close()
	if _, err := New(Config{Default: huge, CopyToRAM: true}); !errors.Is(err, ErrTooBigForRAM) {
		t.Errorf("copy to RAM of a 1 TiB image: %v, want ErrTooBigForRAM", err)
	}
}

// Long reads over an on-disk overlay go out with sendfile piece by piece, from the overlay
// where the client wrote and from the image elsewhere.
func TestCowFileLongReads(t *testing.T) {
	img, base := testImage(t, 8<<20)
	s, err := New(Config{Default: img, Write: true, Cow: true, OverlayDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rc := dialGo(t, testServer(t, s), "")
	want := bytes.Clone(base)
	for i, off := range []int{100, 70000, 1 << 20, 3<<20 + 5} {
		p := bytes.Repeat([]byte{byte(i + 1)}, 5000+i*40000)
		if errno, _ := rc.do(Request{Type: CmdWrite, Handle: uint64(i), Offset: uint64(off), Length: uint32(len(p))}, p); errno != 0 {
			t.Fatalf("write: %d", errno)
		}
		copy(want[off:], p)
	}
	for i, r := range [][2]int{{0, 4 << 20}, {99, 65536}, {60000, 200000}, {1<<20 - 3, 2 << 20}} {
		errno, data := rc.do(Request{Type: CmdRead, Handle: uint64(50 + i), Offset: uint64(r[0]), Length: uint32(r[1])}, nil)
		if errno != 0 || !bytes.Equal(data, want[r[0]:r[0]+r[1]]) {
			t.Errorf("read %d+%d: errno %d or data differs", r[0], r[1], errno)
		}
	}
}

// An attached client is announced on the event bus, and its departure with the bytes moved.
func TestEvents(t *testing.T) {
	img, _ := testImage(t, 1<<20)
	bus := events.NewBus()
	ch, cancel := bus.Subscribe(16)
	defer cancel()
	s, err := New(Config{Default: img, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	rc := dialGo(t, testServer(t, s), "")
	rc.do(Request{Type: CmdRead, Handle: 1, Length: 1000}, nil)
	rc.send(Request{Type: CmdDisc}, nil)
	rc.br.ReadByte()
	start, done := <-ch, <-ch
	if start.Kind != events.TransferStarted || start.Proto != "nbd" || start.File != "disk.img" || start.Total != 1<<20 {
		t.Errorf("start event %+v", start)
	}
	if done.Kind != events.TransferDone || done.ID != start.ID || done.Bytes != 1000 {
		t.Errorf("done event %+v", done)
	}
}

// Serve returns nil when its context ends, after answering what was in flight and closing
// the connections, and a new Server on the same overlay directory sees flushed writes.
func TestServeShutdown(t *testing.T) {
	img, want := testImage(t, 8<<20)
	s, err := New(Config{Default: img, Write: true, OverlayDir: t.TempDir(), Cow: true, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	rc := dialGo(t, ln.Addr().String(), "")
	idle := dialGo(t, ln.Addr().String(), "")
	if errno, _ := rc.do(Request{Type: CmdWrite, Handle: 1, Offset: 0, Length: 4}, []byte("boot")); errno != 0 {
		t.Fatal(errno)
	}
	rc.send(Request{Type: CmdRead, Handle: 2, Offset: 0, Length: 3 << 20}, nil)
	// Stop once the server has taken the read (it counts the bytes before sending them).
	for i := 0; ; i++ {
		if cs := s.Clients(); len(cs) == 2 && cs[0].BytesRead+cs[1].BytesRead >= 3<<20 {
			break
		}
		if i == 1000 {
			t.Fatal("the read never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if h, errno, data := rc.reply(3 << 20); h != 2 || errno != 0 || string(data[:4]) != "boot" || !bytes.Equal(data[4:], want[4:3<<20]) {
		t.Errorf("in-flight read at shutdown: handle %d errno %d", h, errno)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if _, err := idle.br.ReadByte(); err == nil {
		t.Error("idle connection left open")
	}
	if len(s.Clients()) != 0 {
		t.Errorf("clients after shutdown: %+v", s.Clients())
	}
	s.Close()
	s2, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc = dialGo(t, testServer(t, s2), "")
	if _, data := rc.do(Request{Type: CmdRead, Handle: 3, Length: 4}, nil); string(data) != "boot" {
		t.Errorf("write lost across restart: %q", data)
	}
}

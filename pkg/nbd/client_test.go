package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testServer runs s on a loopback listener until the test ends and returns its address.
func testServer(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	return ln.Addr().String()
}

// testImage writes a file of n bytes with a position-dependent pattern.
func testImage(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// rawClient is a minimal NBD client on the wire, for what real clients will not send.
type rawClient struct {
	t     *testing.T
	c     net.Conn
	br    *bufio.Reader
	size  uint64
	flags uint16
}

// dialRaw0 connects without reading anything.
func dialRaw0(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// dialRaw connects and completes the fixed newstyle greeting with NO_ZEROES.
func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	rc := dialRaw0(t, addr)
	g := rc.read(greetingLen)
	if binary.BigEndian.Uint64(g) != magicNBD || binary.BigEndian.Uint64(g[8:]) != magicOpt {
		t.Fatalf("greeting %x", g)
	}
	rc.write(binary.BigEndian.AppendUint32(nil, clientFixedNewstyle|clientNoZeroes))
	return rc
}

func (rc *rawClient) read(n int) []byte {
	rc.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc.br, b); err != nil {
		rc.t.Fatalf("read %d: %v", n, err)
	}
	return b
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawClient) option(opt uint32, data []byte) {
	b := binary.BigEndian.AppendUint64(nil, magicOpt)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	rc.write(append(b, data...))
}

// optReply reads one option reply.
func (rc *rawClient) optReply() (opt, typ uint32, data []byte) {
	rc.t.Helper()
	h := rc.read(20)
	if binary.BigEndian.Uint64(h) != magicRep {
		rc.t.Fatalf("option reply magic %x", h[:8])
	}
	return binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:]), rc.read(int(binary.BigEndian.Uint32(h[16:])))
}

func infoData(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

// goExport sends NBD_OPT_GO and returns the final reply type (RepAck on success).
func (rc *rawClient) goExport(name string) uint32 {
	rc.t.Helper()
	rc.option(OptGo, infoData(name, InfoBlockSize))
	for {
		_, typ, data := rc.optReply()
		if typ == RepInfo && binary.BigEndian.Uint16(data) == InfoExport {
			rc.size = binary.BigEndian.Uint64(data[2:])
			rc.flags = binary.BigEndian.Uint16(data[10:])
		}
		if typ != RepInfo {
			return typ
		}
	}
}

func dialGo(t *testing.T, addr, name string) *rawClient {
	t.Helper()
	rc := dialRaw(t, addr)
	if typ := rc.goExport(name); typ != RepAck {
		t.Fatalf("GO %q: reply %#x", name, typ)
	}
	return rc
}

func (rc *rawClient) send(r Request, payload []byte) {
	rc.write(append(AppendRequest(nil, r), payload...))
}

// reply reads a simple reply; a successful READ's data is n bytes.
func (rc *rawClient) reply(n int) (handle uint64, errno uint32, data []byte) {
	rc.t.Helper()
	h := rc.read(simpleReplyLen)
	if binary.BigEndian.Uint32(h) != magicSimpleReply {
		rc.t.Fatalf("reply magic %x", h[:4])
	}
	errno, handle = binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:])
	if errno == 0 && n > 0 {
		data = rc.read(n)
	}
	return handle, errno, data
}

// do sends one request and waits for its reply.
func (rc *rawClient) do(r Request, payload []byte) (uint32, []byte) {
	rc.t.Helper()
	rc.send(r, payload)
	n := 0
	if r.Type == CmdRead {
		n = int(r.Length)
	}
	h, errno, data := rc.reply(n)
	if h != r.Handle {
		rc.t.Fatalf("reply handle %d, want %d", h, r.Handle)
	}
	return errno, data
}

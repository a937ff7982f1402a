package nbd

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzServer is a Server over a small image for fuzz targets: writable with in-memory
// overlays so every request type runs.
func fuzzServer(f *testing.F) *Server {
	p := filepath.Join(f.TempDir(), "disk.img")
	if err := os.WriteFile(p, make([]byte, 64<<10), 0o644); err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Default: p, Write: true, CowInMem: true, CowMemMax: 1 << 20, HandshakeTimeout: 200 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	return s
}

// runConn feeds in to one server connection as the client's byte stream, discards what the
// server sends, and waits for the connection to end.
func runConn(s *Server, in []byte) {
	cli, srv := net.Pipe()
	c := s.newConn(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.wg.Add(1)
		defer s.wg.Done()
		c.run()
	}()
	go io.Copy(io.Discard, cli)
	cli.SetWriteDeadline(time.Now().Add(time.Second))
	cli.Write(in)
	cli.Close()
	<-done
}

func optionBytes(opt uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, magicOpt)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

var clientFlagsBytes = []byte{0, 0, 0, 3}

// FuzzHandshake drives the option haggling with arbitrary client bytes: no input may crash
// the server or keep a connection past its handshake deadline.
func FuzzHandshake(f *testing.F) {
	s := fuzzServer(f)
	seeds := [][]byte{
		nil,
		{0, 0, 0, 1},
		append(clientFlagsBytes, optionBytes(OptList, nil)...),
		append(clientFlagsBytes, optionBytes(OptGo, infoData("", InfoBlockSize, InfoName))...),
		append(clientFlagsBytes, optionBytes(OptInfo, infoData("disk.img"))...),
		append(clientFlagsBytes, optionBytes(OptExportName, []byte("disk.img"))...),
		append(clientFlagsBytes, optionBytes(OptAbort, nil)...),
		append(clientFlagsBytes, optionBytes(OptStructuredReply, nil)...),
		append(clientFlagsBytes, optionBytes(OptGo, []byte{0xff, 0xff, 0xff, 0xff, 0, 0})...),
		append(clientFlagsBytes, 0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff),
	}
	for _, sd := range seeds {
		f.Add(sd)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		runConn(s, in)
	})
}

// FuzzRequest checks the request parser's invariants on arbitrary headers, then runs the
// bytes as the transmission phase of an attached connection.
func FuzzRequest(f *testing.F) {
	s := fuzzServer(f)
	prefix := append(append([]byte{}, clientFlagsBytes...), optionBytes(OptGo, infoData(""))...)
	seeds := []Request{
		{Type: CmdRead, Handle: 1, Length: 4096},
		{Type: CmdRead, Handle: 2, Offset: 65535, Length: 2},
		{Type: CmdRead, Handle: 3, Length: 1 << 31},
		{Type: CmdWrite, Flags: CmdFlagFUA, Handle: 4, Offset: 4000, Length: 200},
		{Type: CmdWriteZeroes, Flags: CmdFlagNoHole, Handle: 5, Offset: 100, Length: 20000},
		{Type: CmdTrim, Handle: 6, Length: 4096},
		{Type: CmdFlush, Handle: 7},
		{Type: CmdDisc},
		{Type: 9, Handle: 8},
	}
	for _, r := range seeds {
		b := AppendRequest(nil, r)
		if r.Type == CmdWrite {
			b = append(b, make([]byte, r.Length)...)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if r, err := ParseRequest(in); err == nil {
			if errno := r.Check(64<<10, FlagHasFlags); errno == 0 {
				end := r.Offset + uint64(r.Length)
				if (r.Type == CmdRead || r.Type == CmdWrite || r.Type == CmdTrim || r.Type == CmdWriteZeroes) && (end < r.Offset || end > 64<<10) {
					t.Fatalf("out-of-range request accepted: %+v", r)
				}
				if (r.Type == CmdRead || r.Type == CmdWrite) && r.Length > MaxPayload {
					t.Fatalf("over-long request accepted: %+v", r)
				}
			}
			if got := AppendRequest(nil, r); string(got) != string(in[:requestLen]) {
				t.Fatalf("round trip %x != %x", got, in[:requestLen])
			}
		}
		runConn(s, append(append([]byte{}, prefix...), in...))
	})
}

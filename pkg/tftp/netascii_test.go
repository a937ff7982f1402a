package tftp

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// netasciiRef is the reference translation: LF → CR LF, CR → CR NUL.
func netasciiRef(src []byte) []byte {
	var b bytes.Buffer
	for _, c := range src {
		switch c {
		case '\n':
			b.WriteString("\r\n")
		case '\r':
			b.WriteString("\r\x00")
		default:
			b.WriteByte(c)
		}
	}
	return b.Bytes()
}

// byteFile is a File in memory that counts the bytes read from it.
type byteFile struct {
	data []byte
	mu   sync.Mutex
	read int64
}

func (f *byteFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.data[off:])
	f.mu.Lock()
	f.read += int64(n)
	f.mu.Unlock()
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}
func (f *byteFile) Size() int64  { return int64(len(f.data)) }
func (f *byteFile) Close() error { return nil }
func (f *byteFile) bytesRead() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read
}

// textData is n bytes of text with LFs, CR LFs and bare CRs.
func textData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(20) {
		case 0:
			b[i] = '\n'
		case 1:
			b[i] = '\r'
		default:
			b[i] = byte('a' + r.IntN(26))
		}
	}
	return b
}

// TestNetasciiNoWholeFileRead: a netascii transfer without tsize starts without reading
// the whole file (it used to scan it all to learn the translated size before block 1).
func TestNetasciiNoWholeFileRead(t *testing.T) {
	f := &byteFile{data: textData(4<<20, 1)}
	s, srv := startServer(t, t.TempDir(), func(s *Server) {
		s.Source = FileSourceFunc(func(*Request) (File, error) { return f, nil })
	})
	code, msg, data := rawRequest(t, srv, AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: "t", Mode: "netascii", Options: []Option{opt("blksize", 1468)}}))
	if data == nil {
		t.Fatalf("got ERROR %d %q", code, msg)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Active() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.bytesRead(); n > 64<<10 {
		t.Fatalf("read %d bytes of a 4 MiB file for a transfer ended after its OACK", n)
	}
}

// TestNetasciiBackwardReadBounded: a read behind the translation's position costs at most
// a checkpoint's spacing of source, whatever its offset (it used to restart at byte 0).
func TestNetasciiBackwardReadBounded(t *testing.T) {
	src := textData(8<<20, 2)
	want := netasciiRef(src)
	f := &byteFile{data: src}
	n := newNetascii(f)
	const blk = 1468
	p := make([]byte, blk)
	for _, at := range []int64{64 << 10, 1 << 20, 7 << 20} {
		// Forward to at, then back one window of 16 blocks (an ACK inside the window).
		for off := int64(0); off < at; off += 64 << 10 {
			if _, err := n.ReadAt(p, off); err != nil {
				t.Fatal(err)
			}
		}
		before := f.bytesRead()
		back := at - 16*blk
		m, err := n.ReadAt(p, back)
		if err != nil || !bytes.Equal(p[:m], want[back:back+blk]) {
			t.Fatalf("ReadAt(%d): %v, content differs", back, err)
		}
		if cost := f.bytesRead() - before; cost > 2*n.every+int64(len(n.chunk)) {
			t.Fatalf("backward read at %d read %d source bytes (spacing %d)", back, cost, n.every)
		}
	}
}

// TestNetasciiReadsMatchReference: random reads, forward and backward, give the reference
// translation; the size is unknown until asked for or reached, and checkpoints stay bounded.
func TestNetasciiReadsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, size := range []int{0, 1, 2, 511, 512, 4095, 4096, 4097, 100_000, 3 << 20} {
		src := textData(size, uint64(size))
		want := netasciiRef(src)
		n := newNetascii(&byteFile{data: src})
		if size > 0 && n.size >= 0 {
			t.Fatalf("size %d known before any read", size)
		}
		for range 200 {
			off := int64(r.IntN(len(want) + 10))
			p := make([]byte, r.IntN(3000))
			m, err := n.ReadAt(p, off)
			var exp []byte
			if off < int64(len(want)) {
				exp = want[off:min(int(off)+len(p), len(want))]
			}
			if !bytes.Equal(p[:m], exp) || (m < len(p) && err != io.EOF) {
				t.Fatalf("size %d ReadAt(%d, %d) = %d, %v; want %d bytes", size, off, len(p), m, err, len(exp))
			}
		}
		if n.Size() != int64(len(want)) {
			t.Fatalf("size %d: translated size %d, want %d", size, n.Size(), len(want))
		}
		if len(n.cps) > checkpointsMax+1 {
			t.Fatalf("%d checkpoints", len(n.cps))
		}
	}
}

// FuzzNetascii: any source and any sequence of reads gives the reference translation.
func FuzzNetascii(f *testing.F) {
	f.Add([]byte("line one\nline two\r\nbare\rcr\n\n"), []byte{0, 5, 3, 200, 1, 9})
	f.Add([]byte("\r\r\n\n\r"), []byte{7, 0, 0, 1})
	f.Add(bytes.Repeat([]byte("ab\ncd\r"), 5000), []byte{255, 0, 128, 3, 17, 250, 1})
	f.Fuzz(func(t *testing.T, src, reads []byte) {
		want := netasciiRef(src)
		n := newNetascii(&byteFile{data: src})
		// Checkpoints every few bytes, so short inputs cross many.
		n.every = 3
		for i := 0; i+1 < len(reads); i += 2 {
			off := int64(reads[i]) * int64(len(want)+1) / 256
			p := make([]byte, reads[i+1])
			m, err := n.ReadAt(p, off)
			var exp []byte
			if off < int64(len(want)) {
				exp = want[off:min(int(off)+len(p), len(want))]
			}
			if !bytes.Equal(p[:m], exp) {
				t.Fatalf("ReadAt(%d, %d) = %q, want %q", off, len(p), p[:m], exp)
			}
			if m < len(p) && err != io.EOF {
				t.Fatalf("short read without EOF: %v", err)
			}
		}
		if got := n.Size(); got != int64(len(want)) {
			t.Fatalf("size %d, want %d", got, len(want))
		}
	})
}

// BenchmarkNetasciiRewind: the cost of one backward read of a 16-block window at
// different offsets of an 8 MiB text file: flat, not growing with the offset.
func BenchmarkNetasciiRewind(b *testing.B) {
	src := textData(8<<20, 4)
	for _, at := range []int64{64 << 10, 1 << 20, 7 << 20} {
		b.Run(fmt.Sprintf("offset=%dKiB", at>>10), func(b *testing.B) {
			n := newNetascii(&byteFile{data: src})
			p := make([]byte, 1468)
			if _, err := n.ReadAt(p, at); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := n.ReadAt(p, at-16*1468); err != nil {
					b.Fatal(err)
				}
				if _, err := n.ReadAt(p, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

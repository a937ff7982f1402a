package nbd

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestHostileClients(t *testing.T) {
	img, _ := testImage(t, 1<<20)
	s, err := New(Config{Default: img, HandshakeTimeout: 500 * time.Millisecond, MaxConns: 64})
	if err != nil {
		t.Fatal(err)
	}
	addr := testServer(t, s)
	before := heapInUse()

	t.Run("option length 2^32-1", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.option(OptInfo, nil) // header only below
		rc.optReply()
		hdr := binary.BigEndian.AppendUint64(nil, magicOpt)
		hdr = binary.BigEndian.AppendUint32(hdr, OptGo)
		hdr = binary.BigEndian.AppendUint32(hdr, 0xffffffff)
		rc.write(hdr)
		// Send a few MiB of the claimed 4 GiB: the server skips them without storing
		// them and hangs up at the handshake deadline.
		chunk := make([]byte, 1<<20)
		for range 4 {
			if _, err := rc.c.Write(chunk); err != nil {
				break
			}
		}
		if _, err := io.Copy(io.Discard, rc.br); err != nil {
			t.Logf("read until close: %v", err)
		}
	})

	t.Run("10000 options", func(t *testing.T) {
		rc := dialRaw(t, addr)
		one := binary.BigEndian.AppendUint64(nil, magicOpt)
		one = binary.BigEndian.AppendUint32(one, 99)
		one = binary.BigEndian.AppendUint32(one, 0)
		go func() {
			for range 10000 {
				if _, err := rc.c.Write(one); err != nil {
					return
				}
			}
		}()
		replies := 0
		for {
			h := make([]byte, 20)
			if _, err := io.ReadFull(rc.br, h); err != nil {
				break
			}
			if binary.BigEndian.Uint32(h[12:]) != RepErrUnsup {
				t.Fatalf("reply %x", h)
			}
			replies++
		}
		// Closing with options unread resets the connection, which may drop the last
		// replies in flight; what matters is the hang-up at the cap.
		if replies == 0 || replies > maxOptions {
			t.Errorf("%d replies before hang-up, want 1-%d", replies, maxOptions)
		}
	})

	t.Run("request length 2^31", func(t *testing.T) {
		rc := dialGo(t, addr, "")
		for i := range 3 {
			if errno, _ := rc.do(Request{Type: CmdRead, Handle: uint64(i), Length: 1 << 31}, nil); errno != EINVAL {
				t.Fatalf("errno %d", errno)
			}
		}
		if errno, _ := rc.do(Request{Type: CmdRead, Handle: 9, Length: 4096}, nil); errno != 0 {
			t.Fatalf("connection broken after over-long requests: %d", errno)
		}
	})

	t.Run("slowloris handshake", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.ReadFull(c, make([]byte, greetingLen))
		msg := binary.BigEndian.AppendUint32(nil, clientFixedNewstyle)
		msg = binary.BigEndian.AppendUint64(msg, magicOpt)
		closed := false
		for i := 0; i < 200 && !closed; i++ {
			if _, err := c.Write(msg[i%len(msg) : i%len(msg)+1]); err != nil {
				closed = true
			}
			time.Sleep(50 * time.Millisecond)
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					closed = true
				}
			}
		}
		if !closed {
			t.Error("a client dribbling its handshake was never cut off")
		}
	})

	t.Run("1000 connections", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		greeted, refused := 0, 0
		conns := make([]net.Conn, 0, 1000)
		for range 1000 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
				continue
			}
			conns = append(conns, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				_, err := io.ReadFull(c, make([]byte, greetingLen))
				mu.Lock()
				if err == nil {
					greeted++
				} else {
					refused++
				}
				mu.Unlock()
				// Hold the connection silently; the handshake deadline ends it.
				io.Copy(io.Discard, c)
			}()
		}
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		if greeted > 1000-refused || greeted == 0 || refused == 0 {
			t.Errorf("greeted %d, refused %d", greeted, refused)
		}
		t.Logf("greeted %d, refused %d (cap 64 concurrent, handshake deadline 500ms)", greeted, refused)
	})

	// The server still serves, and what the hostile clients made it allocate is gone.
	rc := dialGo(t, addr, "")
	if errno, _ := rc.do(Request{Type: CmdRead, Handle: 1, Length: 4096}, nil); errno != 0 {
		t.Fatal("server no longer serves")
	}
	if after := heapInUse(); after > before+16<<20 {
		t.Errorf("heap grew from %d to %d bytes", before, after)
	}
}

package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
)

// lossyClient is an RFC 7440 read client in memory behind a network that drops,
// duplicates and reorders the server's datagrams and drops the client's ACKs, each
// decision taken from a script (a fuzz input). Once the script is used up the network is
// perfect, so every transfer must end, and end right. A read with nothing to deliver is a
// timeout at once: the engine's retransmissions run without waiting.
type lossyClient struct {
	script  []byte
	blksize int
	window  int

	expect   uint16 // next block wanted
	inWindow int
	got      bytes.Buffer
	done     bool
	lastAck  []byte
	held     [][]byte // reordered: delivered after the next datagram
	toServer [][]byte
	writes   int
	answered bool // an ACK reached the server
	segments bool // offer writeSegments
}

func (c *lossyClient) decide() byte {
	if len(c.script) == 0 {
		return 0xff
	}
	d := c.script[0]
	c.script = c.script[1:]
	return d
}

func (c *lossyClient) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.writes++
	p := append([]byte(nil), b...)
	switch d := c.decide(); {
	case d < 0x30: // lost
	case d < 0x50: // twice
		c.deliver(p)
		c.deliver(p)
	case d < 0x70: // late
		c.held = append(c.held, p)
		return len(b), nil
	default:
		c.deliver(p)
	}
	for _, h := range c.held {
		c.deliver(h)
	}
	c.held = c.held[:0]
	return len(b), nil
}

// writeSegments splits a segmented send into its datagrams, each meeting the network.
func (c *lossyClient) writeSegments(b []byte, seg int, to netip.AddrPort) (bool, error) {
	if !c.segments {
		return false, nil
	}
	for len(b) > 0 {
		n := min(seg, len(b))
		c.WriteToUDPAddrPort(b[:n], to)
		b = b[n:]
	}
	return true, nil
}

func (c *lossyClient) ack(block uint16) {
	c.lastAck = AppendAck(nil, block)
	if c.decide() >= 0x30 {
		c.toServer = append(c.toServer, c.lastAck)
		c.answered = true
	}
}

// deliver is the client receiving p.
func (c *lossyClient) deliver(p []byte) {
	switch Opcode(binary.BigEndian.Uint16(p)) {
	case OpOACK:
		if c.expect == 1 && c.got.Len() == 0 {
			c.ack(0)
		}
	case OpDATA:
		blk := binary.BigEndian.Uint16(p[2:])
		data := p[4:]
		if c.done || blk != c.expect {
			// A gap or a repeat: say where we are (RFC 7440), as atftp and tftp-hpa do.
			c.inWindow = 0
			c.ack(c.expect - 1)
			return
		}
		c.got.Write(data)
		c.expect++
		c.inWindow++
		final := len(data) < c.blksize
		if final || c.inWindow >= c.window {
			c.inWindow = 0
			c.ack(blk)
		}
		c.done = final
	}
}

func (c *lossyClient) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if len(c.toServer) == 0 && len(c.held) > 0 {
		for _, h := range c.held {
			c.deliver(h)
		}
		c.held = c.held[:0]
	}
	if len(c.toServer) == 0 {
		if c.lastAck != nil && c.decide()&1 == 0 {
			c.toServer = append(c.toServer, c.lastAck) // the client's own timeout
		}
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	p := c.toServer[0]
	c.toServer = c.toServer[1:]
	return copy(b, p), memClient, nil
}

func (c *lossyClient) SetReadDeadline(time.Time) error { return nil }
func (c *lossyClient) Close() error                    { return nil }

// FuzzLossyTransfer runs the transfer engine against lossyClient: lock-step and windowed,
// octet and netascii (whose size the engine only learns at the end), with and without
// segmented sends. The engine must finish, the client must hold exactly the file, and
// the packet count must stay bounded by the losses.
func FuzzLossyTransfer(f *testing.F) {
	f.Add([]byte("hello, world\n"), uint8(8), uint8(1), uint8(0), []byte{0, 0x40, 0x60, 0xff})
	f.Add(bytes.Repeat([]byte("ab\ncd\r"), 100), uint8(16), uint8(4), uint8(1), []byte{0x10, 0x60, 0x60, 0x40, 0, 0x80})
	f.Add(make([]byte, 512), uint8(64), uint8(8), uint8(2), []byte{0x60, 0x60, 0x60, 0x20, 0x20, 0x40, 0x40})
	f.Add(bytes.Repeat([]byte{'x'}, 300), uint8(10), uint8(3), uint8(3), bytes.Repeat([]byte{0x61, 0x31, 0x01}, 40))
	f.Fuzz(func(t *testing.T, data []byte, blk, window, mode uint8, script []byte) {
		if len(data) > 4096 || len(script) > 512 {
			return
		}
		blksize := int(blk%128) + 8
		w := int(window%16) + 1
		netascii := mode&1 != 0
		c := &lossyClient{script: script, blksize: blksize, window: w, expect: 1, segments: mode&2 != 0}
		want := data
		var file File = memFile{bytes.NewReader(data)}
		size := len(data)
		if netascii {
			want = netasciiRef(data)
			file = newNetascii(&byteFile{data: data})
			size = -1
		}
		tr := memTransfer(c, file, 0, blksize, w, 4*(blksize+4))
		tr.size = int64(size)
		tr.retries = 10_000
		if mode&4 != 0 {
			tr.oack = []Option{{"blksize", "8"}}
		}
		err := tr.run()
		if errors.Is(err, errSilent) && !c.answered {
			// Every datagram until the server gave up was lost before the client could
			// answer: a silent client is let go after one resend, as it should be.
			return
		}
		if err != nil {
			t.Fatalf("transfer: %v (client has %d of %d bytes)", err, c.got.Len(), len(want))
		}
		if !bytes.Equal(c.got.Bytes(), want) {
			t.Fatalf("client got %d bytes, want %d; content differs", c.got.Len(), len(want))
		}
		if !c.done {
			t.Fatal("server finished before the client saw the last block")
		}
		blocks := len(want)/blksize + 2
		if limit := (blocks + 2*len(script) + 4) * w * 2; c.writes > limit {
			t.Fatalf("%d datagrams for %d blocks and %d script bytes", c.writes, blocks, len(script))
		}
	})
}

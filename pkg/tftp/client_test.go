package tftp

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// testClient is a small RFC 1350/2347/7440 read client for in-process tests. It writes what
// it receives into a hash so a long transfer costs no memory, and it allocates nothing per
// block, so allocation counts measure the server.
type testClient struct {
	conn    packetConn
	timeout time.Duration // per-packet wait before re-sending the last ACK/RRQ
	retries int
	// ackEvery: with a window, ack the last block of each window (RFC 7440).
}

type fetchResult struct {
	sum     [32]byte
	size    int64
	oack    []Option
	errCode ErrorCode
	errMsg  string
	blocks  int64 // DATA packets accepted
}

var errRemote = errors.New("server sent ERROR")

func newTestClient(c packetConn) *testClient {
	return &testClient{conn: c, timeout: 200 * time.Millisecond, retries: 20}
}

// get fetches name from srv. A non-nil error wrapping errRemote means the server answered
// with ERROR; res.errCode says which.
func (c *testClient) get(srv netip.AddrPort, name, mode string, opts ...Option) (*fetchResult, error) {
	res := &fetchResult{}
	h := sha256.New() // the OACK, not what was asked, decides blksize and windowsize
	rrq := AppendRequest(nil, &RequestPacket{Op: OpRRQ, Filename: name, Mode: mode, Options: opts})
	blksize, window := 512, 1
	buf := make([]byte, 65536+4)
	var (
		peer       netip.AddrPort // server's transfer id, learned from its first reply
		expect     = uint16(1)    // next DATA block wanted
		last       []byte         // last packet sent, re-sent on timeout
		lastTo     = srv
		inWindow   int
		negotiated bool
	)
	last = rrq
	if _, err := c.conn.WriteToUDPAddrPort(rrq, srv); err != nil {
		return nil, err
	}
	ackBuf := make([]byte, 4)
	sendAck := func(block uint16) error {
		last = AppendAck(ackBuf[:0], block)
		_, err := c.conn.WriteToUDPAddrPort(last, lastTo)
		return err
	}
	tries := 0
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tries++
				if tries > c.retries {
					return res, fmt.Errorf("client: timeout waiting for block %d", expect)
				}
				_, _ = c.conn.WriteToUDPAddrPort(last, lastTo)
				inWindow = 0
				continue
			}
			return res, err
		}
		if peer.IsValid() && from != peer {
			continue
		}
		var p Packet
		if p.Decode(buf[:n]) != nil {
			continue
		}
		if !peer.IsValid() {
			peer, lastTo = from, from
		}
		switch p.Op {
		case OpERROR:
			res.errCode, res.errMsg = p.Code, string(p.Msg)
			return res, fmt.Errorf("%w %d %q", errRemote, p.Code, p.Msg)
		case OpOACK:
			if negotiated || expect != 1 {
				continue
			}
			negotiated = true
			oack, err := ParseOACK(buf[:n])
			if err != nil {
				return res, err
			}
			res.oack = oack
			for _, o := range oack {
				v, _ := strconv.Atoi(o.Value)
				switch strings.ToLower(o.Name) {
				case "blksize":
					blksize = v
				case "windowsize":
					window = v
				}
			}
			tries = 0
			if err := sendAck(0); err != nil {
				return res, err
			}
		case OpDATA:
			negotiated = true
			if p.Block != expect {
				// Out of order or a duplicate: with a window, tell the server where we are
				// (RFC 7440); in lock-step stay silent and let the timeout work.
				// A repeat of the block just acknowledged means the ACK was lost: ack it
				// again (the server must not answer duplicate ACKs with DATA, so this is
				// safe).
				if window > 1 || p.Block == expect-1 {
					inWindow = 0
					if err := sendAck(expect - 1); err != nil {
						return res, err
					}
				}
				continue
			}
			tries = 0
			h.Write(p.Data)
			res.size += int64(len(p.Data))
			res.blocks++
			expect++
			inWindow++
			final := len(p.Data) < blksize
			if final || inWindow >= window {
				inWindow = 0
				if err := sendAck(p.Block); err != nil {
					return res, err
				}
			}
			if final {
				copy(res.sum[:], h.Sum(nil))
				return res, nil
			}
		}
	}
}

// lossyConn is a test double for a transfer socket that drops, duplicates and reorders the
// packets written through it, deterministically from a seed.
type lossyConn struct {
	packetConn
	mu        sync.Mutex
	rng       *rand.Rand
	loss, dup float64
	reorder   float64
	held      []byte
	heldTo    netip.AddrPort
	stats     lossStats
}

type lossStats struct{ sent, dropped, duplicated, reordered int }

func newLossy(c packetConn, seed uint64, loss, dup, reorder float64) *lossyConn {
	return &lossyConn{packetConn: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), loss: loss, dup: dup, reorder: reorder}
}

func (l *lossyConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.sent++
	if l.rng.Float64() < l.loss {
		l.stats.dropped++
		return len(b), nil
	}
	if l.held == nil && l.rng.Float64() < l.reorder {
		// Hold this packet back and send it after the next one.
		l.held, l.heldTo = append([]byte(nil), b...), to
		l.stats.reordered++
		return len(b), nil
	}
	n, err := l.packetConn.WriteToUDPAddrPort(b, to)
	if err != nil {
		return n, err
	}
	if l.rng.Float64() < l.dup {
		l.stats.duplicated++
		_, _ = l.packetConn.WriteToUDPAddrPort(b, to)
	}
	if l.held != nil {
		_, _ = l.packetConn.WriteToUDPAddrPort(l.held, l.heldTo)
		l.held = nil
	}
	return n, err
}

// ReadFromUDPAddrPort flushes a held packet when the owner starts waiting, so a held last
// packet is late, not lost.
func (l *lossyConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	l.mu.Lock()
	if l.held != nil && l.rng.Float64() < 0.5 {
		_, _ = l.packetConn.WriteToUDPAddrPort(l.held, l.heldTo)
		l.held = nil
	}
	l.mu.Unlock()
	return l.packetConn.ReadFromUDPAddrPort(b)
}

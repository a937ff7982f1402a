//go:build linux

package rawdhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

const ethPARP = 0x0806

// ARPProber asks "does anyone on the link use this address?" with ARP requests (RFC 5227
// style probes from our own address) and watches for an answer. It is safe for concurrent
// use: probes of one address share one answer.
type ARPProber struct {
	conn   *packet.Conn
	srcMAC net.HardwareAddr
	srcIP  netip.Addr

	mu      sync.Mutex
	waiting map[netip.Addr]chan struct{}
	done    chan struct{}
}

// arpFilter accepts Ethernet/IPv4 ARP packets only (hardware type 1, protocol 0x0800,
// lengths 6 and 4). On a Datagram socket offset 0 is the ARP header.
var arpFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 0, Size: 4},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x00010800, SkipTrue: 3},
	bpf.LoadAbsolute{Off: 4, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0604, SkipTrue: 1},
	bpf.RetConstant{Val: 64},
	bpf.RetConstant{Val: 0},
})

// OpenARPProber opens the ARP socket on the interface ifname; requests carry src as the
// sender's address. Call it in the interface's network namespace; Close releases it.
func OpenARPProber(ifname string, src netip.Addr) (*ARPProber, error) {
	ifi, err := ethernetLink(ifname)
	if err != nil {
		return nil, fmt.Errorf("rawdhcp: arp probe: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Datagram, ethPARP, &packet.Config{Filter: arpFilter})
	if err != nil {
		return nil, fmt.Errorf("rawdhcp: arp probe: %w", err)
	}
	p := &ARPProber{conn: c, srcMAC: ifi.HardwareAddr, srcIP: src, waiting: make(map[netip.Addr]chan struct{}), done: make(chan struct{})}
	go p.read()
	return p, nil
}

func (p *ARPProber) read() {
	defer close(p.done)
	buf := make([]byte, 128)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if a, ok := from.(*packet.Addr); ok && string(a.HardwareAddr) == string(p.srcMAC) {
			continue // our own request, seen on the way out
		}
		// A reply from the address, or a request/announcement sent by a host using it.
		sender, ok := arpSender(buf[:n])
		if !ok {
			continue
		}
		p.mu.Lock()
		if ch, ok := p.waiting[sender]; ok {
			close(ch)
			delete(p.waiting, sender)
		}
		p.mu.Unlock()
	}
}

// Probe reports whether ip answered within wait (two requests, the second halfway).
func (p *ARPProber) Probe(ctx context.Context, ip netip.Addr, wait time.Duration) (bool, error) {
	ch := make(chan struct{})
	p.mu.Lock()
	if old, ok := p.waiting[ip]; ok {
		ch = old // a probe for this address is already running: share its answer
	} else {
		p.waiting[ip] = ch
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.waiting[ip] == ch {
			delete(p.waiting, ip)
		}
		p.mu.Unlock()
	}()
	var req [28]byte
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:14], p.srcMAC)
	s := p.srcIP.As4()
	copy(req[14:18], s[:])
	t := ip.As4()
	copy(req[24:28], t[:])
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// Two requests, the second halfway through the wait, survive one lost frame.
	resend := time.NewTimer(wait / 2)
	defer resend.Stop()
	if _, err := p.conn.WriteTo(req[:], bcast); err != nil {
		return false, fmt.Errorf("rawdhcp: arp probe %s: %w", ip, err)
	}
	for {
		select {
		case <-ch:
			return true, nil
		case <-resend.C:
			_, _ = p.conn.WriteTo(req[:], bcast)
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Close closes the socket and waits for its reader.
func (p *ARPProber) Close() error {
	err := p.conn.Close()
	<-p.done
	return err
}

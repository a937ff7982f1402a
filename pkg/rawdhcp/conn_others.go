//go:build !linux

package rawdhcp

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"time"
)

// errUnsupported explains why nothing works here: AF_PACKET is Linux-only.
var errUnsupported = errors.New("rawdhcp: raw DHCP sockets need Linux AF_PACKET; not supported on " + runtime.GOOS)

// Conn is a DHCP server socket on one interface. On this system it cannot be opened.
type Conn struct {
	stats counters
}

func opErr(op string) error { return &net.OpError{Op: op, Net: "rawdhcp", Err: errUnsupported} }

// Listen always fails on this system.
func Listen(ifname string, cfg *Config) (*Conn, error) { return nil, opErr("listen") }

// Close fails here.
func (c *Conn) Close() error { return opErr("close") }

// Interface returns nil here.
func (c *Conn) Interface() *net.Interface { return nil }

// ServerAddr returns the zero address here.
func (c *Conn) ServerAddr() netip.Addr { return netip.Addr{} }

// SetServerAddr fails here.
func (c *Conn) SetServerAddr(a netip.Addr) error { return opErr("set") }

// SetReadDeadline fails here.
func (c *Conn) SetReadDeadline(t time.Time) error { return opErr("set") }

// Stats returns zero counters here.
func (c *Conn) Stats() Stats { return c.stats.snapshot() }

// ReadMessage fails here.
func (c *Conn) ReadMessage(m *Message, info *PacketInfo) error { return opErr("read") }

// Reply fails here.
func (c *Conn) Reply(resp, req *Message, info *PacketInfo) error { return opErr("write") }

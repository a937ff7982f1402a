//go:build !linux

package rawdhcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
)

// ErrInterfaceGone is returned by RAConn.Serve when its interface no longer exists.
var ErrInterfaceGone = errors.New("rawdhcp: interface gone")

// RAConn answers iPXE's router solicitations. On this system it cannot be opened.
type RAConn struct{}

func raUnsupported(op string) error {
	return &net.OpError{Op: op, Net: "rawdhcp-ra", Err: errors.New("rawdhcp: router advertisements need Linux AF_PACKET; not supported on " + runtime.GOOS)}
}

// ListenRA always fails on this system.
func ListenRA(ifname string, cfg *RAConfig) (*RAConn, error) { return nil, raUnsupported("listen") }

// Interface returns nil here.
func (c *RAConn) Interface() *net.Interface { return nil }

// Source returns the zero address here.
func (c *RAConn) Source() netip.Addr { return netip.Addr{} }

// Stats returns zero counters here.
func (c *RAConn) Stats() RAStats { return RAStats{} }

// Close fails here.
func (c *RAConn) Close() error { return raUnsupported("close") }

// Allow does nothing here.
func (c *RAConn) Allow(mac MAC) {}

// Serve fails here.
func (c *RAConn) Serve(ctx context.Context) error { return raUnsupported("read") }

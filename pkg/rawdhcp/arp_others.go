//go:build !linux

package rawdhcp

import (
	"context"
	"net/netip"
	"time"
)

// ARPProber needs Linux AF_PACKET sockets; on this system it cannot be opened.
type ARPProber struct{}

// OpenARPProber always fails on this system.
func OpenARPProber(ifname string, src netip.Addr) (*ARPProber, error) {
	return nil, opErr("arp probe")
}

// Probe fails here.
func (*ARPProber) Probe(context.Context, netip.Addr, time.Duration) (bool, error) {
	return false, opErr("arp probe")
}

// Close does nothing here.
func (*ARPProber) Close() error { return nil }

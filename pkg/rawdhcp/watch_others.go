//go:build !linux

package rawdhcp

import (
	"context"
	"net"
	"net/netip"
)

// ServerWatch needs Linux AF_PACKET sockets; on this system it cannot be opened.
type ServerWatch struct{}

// OpenServerWatch always fails on this system.
func OpenServerWatch(ifname string) (*ServerWatch, error) { return nil, opErr("server watch") }

// Run returns at once here.
func (*ServerWatch) Run(context.Context, netip.Addr, func(netip.Addr, net.HardwareAddr, MessageType)) {
}

// Close does nothing here.
func (*ServerWatch) Close() error { return nil }

//go:build !linux

package dhcpd

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

type rogueWatch struct{}

func newRogueWatch(string) (*rogueWatch, error) {
	return nil, errors.New("dhcpd: the rogue server watch needs Linux AF_PACKET sockets")
}

func (*rogueWatch) run(context.Context, netip.Addr, func(netip.Addr, net.HardwareAddr, rawdhcp.MessageType)) {
}

func (*rogueWatch) close() error { return nil }

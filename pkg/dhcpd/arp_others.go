//go:build !linux

package dhcpd

import (
	"errors"
	"net/netip"
)

func newARPProber(ifname string, srcIP netip.Addr) (prober, error) {
	return nil, errors.New("dhcpd: the ARP probe needs Linux AF_PACKET sockets")
}

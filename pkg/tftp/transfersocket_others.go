//go:build !linux

package tftp

import "net/netip"

// listenTransfer opens a plain UDP socket off Linux; blocking sockets are Linux-only.
func listenTransfer(local netip.Addr, _ bool) (packetConn, error) { return listenUDP(local) }

// connectTransfer leaves the socket unconnected off Linux: the transfer answers strays
// itself.
func connectTransfer(packetConn, netip.AddrPort, func(netip.AddrPort)) {}

// Package rawdhcp is the DHCPv4 wire layer of pxe-edge: a BOOTP/DHCP message codec that
// decodes into caller-owned storage, IPv4/UDP framing with checksums, an AF_PACKET
// connection that answers clients with no address yet (RFC 2131 §4.1), and a serve loop.
//
// It holds no address pool and no boot policy: those live in pkg/dhcpd and pkg/boot.
//
// The codec is built for a hot path on small boards: a warmed Message decodes a packet
// without allocating, option values returned by getters alias the Message's storage and stay
// valid until the next Decode, Reset or change to that option.
package rawdhcp

import "errors"

// ErrMalformed is wrapped by every error that reports bytes which are not a valid
// BOOTP/DHCP message or IPv4/UDP datagram. Test with errors.Is.
var ErrMalformed = errors.New("malformed packet")

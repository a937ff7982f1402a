// Package rawdhcp is the DHCPv4 wire layer of pxe-edge: a BOOTP/DHCP message codec that
// decodes into caller-owned storage, IPv4/UDP framing with checksums, an AF_PACKET
// connection that answers clients with no address yet (RFC 2131 §4.1), and a serve loop.
//
// It holds no address pool and no boot policy: those live in pkg/dhcpd and pkg/boot.
//
// The codec is built for a hot path on small boards: a warmed Message decodes a packet
// without allocating, option values returned by getters alias the Message's storage and stay
// valid until the next Decode, Reset or change to that option.
//
// Listen opens every socket a Conn will use, so a Conn made inside a network namespace
// (tests, netlab) stays there: an AF_PACKET datagram socket with a BPF filter attached
// before bind (IPv4 UDP to the configured ports), an ordinary UDP socket on port 67 bound to
// the interface for replies to relay agents, and UDP sockets that hold the other server
// ports (4011) so that the kernel does not answer unicast requests with ICMP port
// unreachable. Those UDP sockets carry a drop-all filter: they never queue the traffic the
// packet socket already reads. A read and a reply, through Serve, do not allocate.
package rawdhcp

import "errors"

// ErrMalformed is wrapped by every error that reports bytes which are not a valid
// BOOTP/DHCP message or IPv4/UDP datagram. Test with errors.Is.
var ErrMalformed = errors.New("malformed packet")

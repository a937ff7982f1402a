package rawdhcp

import (
	"net"
	"net/netip"
)

// DetectResult is what Detect saw.
type DetectResult struct {
	// Found is true when another DHCP server offered an address.
	Found bool
	// Server is its server identifier (option 54), or the IP source when it sent none.
	Server netip.Addr
	// Relay is the IP source of the OFFER (the server itself, or a relay agent).
	Relay netip.Addr
	// ServerMAC is the Ethernet source of the OFFER.
	ServerMAC net.HardwareAddr
	// Offered is the address it offered us.
	Offered netip.Addr
}

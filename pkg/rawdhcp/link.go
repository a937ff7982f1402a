package rawdhcp

import (
	"fmt"
	"net"
)

// LookupLink resolves the interface named name. Every socket of this package (the DHCP
// Conn, the ARP prober, the server watch, detection) resolves its interface here, and the
// daemon asks it for the index to notice an interface deleted and created again.
func LookupLink(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("rawdhcp: interface %s: %w", name, err)
	}
	return ifi, nil
}

// ethernetLink is LookupLink for sockets that need the interface's Ethernet address.
func ethernetLink(name string) (*net.Interface, error) {
	ifi, err := LookupLink(name)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("rawdhcp: %s has no Ethernet address", name)
	}
	return ifi, nil
}

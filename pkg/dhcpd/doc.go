// Package dhcpd is pxe-edge's DHCP server logic: the address pool, static reservations
// (PyPXE's file format), the full-DHCP and ProxyDHCP replies (port 67 and the port-4011
// service), the ARP probe before an address is offered, rogue server warnings, per-MAC rate
// limits and the auto-mode detection probe.
//
// It sits above pkg/rawdhcp (wire codec and sockets), pkg/lease (durable lease store) and
// pkg/boot (the boot part of a reply) and below the daemon, which builds a Config, calls New
// and hands the Server to rawdhcp.Serve as its Handler.
package dhcpd

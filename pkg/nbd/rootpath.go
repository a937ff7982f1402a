package nbd

import (
	"net/netip"
	"strconv"
)

// RootPath is the DHCP root-path (option 17) that Debian's initramfs reads when booted with
// `nbdroot=dhcp root=/dev/nbd0`: "server:port/export", with an IPv6 server in brackets
// (scripts/local-top/nbd of Debian's nbd-client package parses exactly these forms).
func RootPath(server netip.Addr, port uint16, export string) string {
	host := server.Unmap().String()
	if server.Unmap().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port)) + "/" + export
}

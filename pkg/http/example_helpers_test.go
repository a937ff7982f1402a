package httpd_test

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// replacePort hides the listener's random port in example output.
func replacePort(s string, ln net.Listener) string {
	return strings.ReplaceAll(s, ":"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), ":PORT")
}

// Package tcpcc chooses the TCP congestion control of the connections a listener accepts,
// by setting it on the listening socket, which accepted sockets inherit from the start (a
// connection switched later keeps the pacing its first algorithm asked for).
//
// The daemon gives its HTTP and NBD listeners cubic by default. Some hosts default to BBR,
// which needs pacing; without the fq qdisc the kernel paces every connection with a timer
// of its own, and in the benches that pacing cost the server's CPU more than sending the
// data did (docs/bench/http.md, "Congestion control").
package tcpcc

import "net"

// System names the kernel's default algorithm (net.ipv4.tcp_congestion_control): Set leaves
// the listener alone.
const System = "system"

// Set gives the connections ln accepts from now on the congestion control algorithm name
// ("cubic", "reno", "bbr", … as the kernel knows them), or leaves the kernel's choice when
// name is System. The error is a *net.OpError: the kernel lacks the algorithm (ENOENT), or
// it is not in net.ipv4.tcp_allowed_congestion_control and the process has no
// CAP_NET_ADMIN (EPERM); ln then keeps the kernel's default.
func Set(ln net.Listener, name string) error {
	if name == System {
		return nil
	}
	return set(ln, name)
}

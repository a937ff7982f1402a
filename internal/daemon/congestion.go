package daemon

import (
	"net"

	"github.com/pxe-edge/pxe-edge/internal/tcpcc"
)

// setCongestion gives the connections ln accepts the --tcp-congestion algorithm. A kernel
// without it leaves the default in place: the service still runs, and the log says which.
func (d *Daemon) setCongestion(ln net.Listener, svc string) {
	if err := tcpcc.Set(ln, d.cfg.TCPCongestion); err != nil {
		d.log.Warn(svc+": TCP congestion control not set, the kernel's default is used", "want", d.cfg.TCPCongestion, "err", err)
	}
}

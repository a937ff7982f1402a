package daemon

import (
	"net/netip"

	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
)

// clientsView implements pkg/http's Clients from the DHCP lease table and the daemon state.
type clientsView struct{ d *Daemon }

// Client returns what DHCP knows about the client holding ip.
func (v clientsView) Client(ip netip.Addr) (httpd.ClientInfo, bool) {
	svc := v.d.dhcpSvc()
	if svc == nil {
		return httpd.ClientInfo{}, false
	}
	return svc.client(ip)
}

// Status returns the daemon's state for /api/status and /metrics.
func (v clientsView) Status() httpd.DaemonStatus {
	d := v.d
	st := httpd.DaemonStatus{
		Mode:       d.cfg.Mode().String(),
		ActiveMode: d.activeMode.Load().(string),
		Interface:  d.ifname,
		Carrier:    d.carrier.Load(),
	}
	if svc := d.dhcpSvc(); svc != nil {
		svc.status(&st)
	}
	if d.nbd != nil {
		st.NBDOn = true
		for _, c := range d.nbd.Clients() {
			st.NBD = append(st.NBD, httpd.NBDClient(c))
		}
	}
	return st
}

package daemon

import (
	"context"

	"github.com/pxe-edge/pxe-edge/internal/config"
)

// dhcpUnit is the DHCP service in the daemon's list. The dhcpService it makes holds the pool
// and the lease store for the daemon's whole life; it starts paused and the link supervisor
// resumes it on carrier. At shutdown it stops answering before the file servers drain, so no
// new client starts a boot that would be cut; the lease table stays readable for them.
type dhcpUnit struct {
	d      *Daemon
	images *imagesService // the machine profiles, which may mark Secure Boot machines; may be nil
}

func (u *dhcpUnit) Name() string { return "DHCP" }

func (u *dhcpUnit) Start(context.Context) error {
	svc, err := newDHCPService(u.d, u.images)
	if err != nil {
		return err
	}
	u.d.dhcp.Store(svc)
	return nil
}

func (u *dhcpUnit) Reload() error { return u.d.dhcpSvc().reload() }

// Stop stops answering and flushes the lease store; DHCP has no transfers to wait for.
func (u *dhcpUnit) Stop(context.Context) { u.d.dhcpSvc().close() }

// dhcpSvc returns the running DHCP service, or nil.
func (d *Daemon) dhcpSvc() *dhcpService { return d.dhcp.Load() }

// dhcpOn reports whether this configuration runs a DHCP server of any mode.
func (d *Daemon) dhcpOn() bool { return d.cfg.Mode() != config.DHCPOff }

package daemon

import (
	"context"
	"errors"
	"net/netip"

	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
)

// dhcpService runs DHCP on the managed interface.
type dhcpService struct{}

func newDHCPService(d *Daemon) (*dhcpService, error) {
	return nil, errors.New("DHCP: not wired in this build yet")
}

func (s *dhcpService) close()                     {}
func (s *dhcpService) pauseAll()                  {}
func (s *dhcpService) pause()                     {}
func (s *dhcpService) resume(ctx context.Context) {}
func (s *dhcpService) reload() error              { return nil }

func (s *dhcpService) client(ip netip.Addr) (httpd.ClientInfo, bool) {
	return httpd.ClientInfo{}, false
}
func (s *dhcpService) status(st *httpd.DaemonStatus) {}

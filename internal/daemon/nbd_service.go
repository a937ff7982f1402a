package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/pxe-edge/pxe-edge/pkg/nbd"
)

// ErrBadConfig marks a Run error that a setting caused (main exits 2 on it, as for a flag
// error), such as an --nbd-copy-to-ram image larger than the memory available.
var ErrBadConfig = errors.New("bad configuration")

// nbdService serves disk images over NBD: the --nbd image as the default export and the
// images under <netboot>/nbd/, with per-client overlays under <state-dir>/nbd keyed by the
// client's MAC from the DHCP lease table.
type nbdService struct {
	d   *Daemon
	srv *nbd.Server
	run runner
}

func (s *nbdService) Name() string { return "NBD" }

func (s *nbdService) Start(ctx context.Context) error {
	d := s.d
	c := d.cfg
	srv, err := nbd.New(nbd.Config{
		Default:    c.NBDBlockDevice,
		ExportsDir: filepath.Join(c.NetbootDir, "nbd"),
		Write:      c.NBDWrite,
		Cow:        c.NBDCow,
		CowInMem:   c.NBDCowInMem,
		CowMemMax:  int64(c.NBDCowMemMax) << 20,
		CopyToRAM:  c.NBDCopyToRAM,
		OverlayDir: filepath.Join(c.StateDir, "nbd"),
		Logger:     d.logs.For("nbd"),
		Events:     d.bus,
		ClientKey:  d.macString,
	})
	if errors.Is(err, nbd.ErrTooBigForRAM) {
		return fmt.Errorf("NBD: --nbd-copy-to-ram: %w (%w)", err, ErrBadConfig)
	}
	if err != nil {
		return fmt.Errorf("NBD: %w", err)
	}
	given, _ := netip.ParseAddr(c.NBDServerIP)
	addr := d.bindAddr("NBD_SERVER_IP", given, c.NBDPort)
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("NBD: listen on %s: %w", addr, err)
	}
	d.setCongestion(ln, "NBD")
	s.srv, d.nbd = srv, srv
	d.log.Info("NBD listening", "addr", addr, "image", c.NBDBlockDevice, "write", c.NBDWrite, "cow", c.NBDCow, "cow_in_mem", c.NBDCowInMem, "copy_to_ram", c.NBDCopyToRAM, "tcp_congestion", c.TCPCongestion)
	s.run.start(ctx, func(ctx context.Context) {
		if err := srv.Serve(ctx, ln); err != nil {
			d.log.Error("NBD server stopped", "err", err)
		}
	})
	return nil
}

func (s *nbdService) Reload() error { return nil }

// Stop ends Serve's context: in-flight requests get pkg/nbd's grace, then connections close
// and overlays are synced and closed.
func (s *nbdService) Stop(context.Context) {
	s.run.stop()
	if err := s.srv.Close(); err != nil {
		s.d.log.Warn("NBD close", "err", err)
	}
}

// macString names the client holding addr by its MAC ("aa:bb:…"), from the DHCP lease table.
func (d *Daemon) macString(addr netip.Addr) (string, bool) {
	mac, ok := d.macOf(addr)
	if !ok {
		return "", false
	}
	return net.HardwareAddr(mac[:]).String(), true
}

// nbdRootPath is the --nbd export as DHCP's root path (option 17) names it: Debian's
// nbdroot=dhcp reads "server:port/export". The server is the NBD address when one is set,
// else the DHCP server's.
func (d *Daemon) nbdRootPath() string {
	ip, err := netip.ParseAddr(d.cfg.NBDServerIP)
	if err != nil || ip.IsUnspecified() {
		ip = d.cfg.DHCPServerIP
	}
	return nbd.RootPath(ip, uint16(d.cfg.NBDPort), filepath.Base(d.cfg.NBDBlockDevice))
}

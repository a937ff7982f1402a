package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/pxe-edge/pxe-edge/pkg/bootfs"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// tftpService serves the netboot directory over TFTP, with per-client roots and Raspberry Pi
// prefixes (pkg/bootfs) over the plain root.
type tftpService struct {
	d      *Daemon
	images *imagesService // files inside images/ and generated menus over the plain source
	srv    *tftp.Server
	conn   *net.UDPConn
	root   *tftp.DirSource
	fs     *bootfs.Source
	run    runner
}

func (s *tftpService) Name() string { return "TFTP" }

func (s *tftpService) Start(ctx context.Context) error {
	d := s.d
	root, err := tftp.NewDirSource(d.cfg.NetbootDir, tftp.WithLowercaseFallback())
	if err != nil {
		return fmt.Errorf("TFTP: netboot dir: %w", err)
	}
	fs, err := bootfs.New(root, d.cfg.NetbootDir, bootfs.WithMACLookup(d.macOf))
	if err != nil {
		root.Close()
		return fmt.Errorf("TFTP: netboot dir: %w", err)
	}
	addr := d.bindAddr("TFTP_SERVER_IP", d.cfg.TFTPServerIP, d.cfg.TFTPPort)
	conn, err := listenUDP4(addr)
	if err != nil {
		fs.Close()
		root.Close()
		return fmt.Errorf("TFTP: %w", err)
	}
	s.root, s.fs, s.conn = root, fs, conn
	var src tftp.FileSource = fs
	if s.images != nil {
		src = s.images.tftpSource(fs)
	}
	s.srv = d.tftpServer(src)
	d.log.Info("TFTP listening", "addr", addr, "root", d.cfg.NetbootDir, "max", d.cfg.TFTPMax)
	s.run.start(ctx, func(ctx context.Context) {
		if err := s.srv.Serve(ctx, conn); err != nil && !errors.Is(err, tftp.ErrServerClosed) {
			d.log.Error("TFTP server stopped", "err", err)
		}
	})
	return nil
}

func (s *tftpService) Reload() error { return nil }

// Stop refuses new requests and lets running transfers finish until ctx ends.
func (s *tftpService) Stop(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		s.d.log.Warn("TFTP transfers cut at the end of the grace period", "err", err)
	}
	s.run.stop()
	s.conn.Close()
	s.fs.Close()
	s.root.Close()
}

// listenUDP4 opens a UDP socket on addr ("ip:port").
func listenUDP4(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return conn, nil
}

// tftpServer is the TFTP server's configuration over src.
func (d *Daemon) tftpServer(src tftp.FileSource) *tftp.Server {
	return &tftp.Server{
		Source:        src,
		MaxTransfers:  d.cfg.TFTPMax,
		MaxPerClient:  d.cfg.TFTPMaxPerClient,
		MaxQueued:     d.cfg.TFTPQueue,
		WindowSizeMax: d.cfg.TFTPWindowsizeMax,
		Timeout:       d.cfg.TFTPTimeout,
		Retries:       d.cfg.TFTPRetries,
		IdleTimeout:   d.cfg.TFTPIdleTimeout,
		Logger:        d.logs.For("tftp"),
		Events:        d.bus,
	}
}

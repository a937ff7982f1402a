package images

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// helperEnv makes the test binary a TFTP server for the namespace tests: started with `ip
// netns exec`, its sockets (the transfer sockets too) live in the namespace.
const helperEnv = "PXE_IMAGES_TFTP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := tftpHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tftpHelper serves NETBOOT over TFTP on ADDR:69 with the catalogue of IMAGES overlaid and
// pxelinux.cfg/default generated for DEFAULT with a TIMEOUT (seconds).
func tftpHelper() error {
	cat := NewCatalog(os.Getenv("IMAGES"), nil)
	if err := cat.Rescan(); err != nil {
		return err
	}
	inner, err := tftp.NewDirSource(os.Getenv("NETBOOT"))
	if err != nil {
		return err
	}
	timeout, _ := time.ParseDuration(os.Getenv("TIMEOUT"))
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	src := &TFTPSource{Catalog: cat, Inner: inner, Generate: func(req *tftp.Request) ([]byte, bool) {
		if req.Path != "pxelinux.cfg/default" {
			return nil, false
		}
		c := Client{Arch: ArchBIOS, ServerURL: "http://" + os.Getenv("ADDR")}
		logger.Info("generated pxelinux.cfg/default")
		return []byte(PXELinuxMenu(cat.Entries(), c, profiles.Decision{Default: os.Getenv("DEFAULT"), Timeout: timeout})), true
	}}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(os.Getenv("ADDR")), Port: 69})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &tftp.Server{Source: src, Logger: logger}
	fmt.Println("READY")
	return srv.Serve(ctx, conn)
}

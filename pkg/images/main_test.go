package images

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

func logRequests(l *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Info("http", "method", r.Method, "path", r.URL.Path, "range", r.Header.Get("Range"))
		h.ServeHTTP(w, r)
	})
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
		if req.Path == "grub/grub.cfg" {
			c := Client{Arch: ArchX64EFI, ServerURL: "http://" + os.Getenv("ADDR")}
			logger.Info("generated grub/grub.cfg")
			return []byte(GRUBMenu(cat.Entries(), c, profiles.Decision{Default: os.Getenv("DEFAULT"), Timeout: timeout, Args: "console=ttyS0"})), true
		}
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
	if os.Getenv("HTTP") == "1" {
		// The catalogue over HTTP and the iPXE menu for an x86-64 UEFI client.
		ln, err := net.Listen("tcp4", os.Getenv("ADDR")+":80")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/images/", &Handler{Catalog: cat, Logger: logger})
		mux.HandleFunc("/menu.ipxe", func(w http.ResponseWriter, r *http.Request) {
			c := Client{Arch: ArchX64EFI, MAC: os.Getenv("MAC"), ServerURL: "http://" + os.Getenv("ADDR")}
			d := profiles.Decision{Default: os.Getenv("DEFAULT"), Timeout: timeout, Args: "console=ttyS0"}
			logger.Info("generated menu.ipxe")
			w.Write([]byte(IPXEMenu(cat.Entries(), c, d)))
		})
		hs := &http.Server{Handler: logRequests(logger, mux)}
		go hs.Serve(ln)
		defer hs.Close()
	}
	fmt.Println("READY")
	return srv.Serve(ctx, conn)
}

// Command tftp-server is the fallback pxe-edge TFTP server for bench/tftp.sh: pkg/tftp over
// a directory and nothing else, for when the real cmd/pxe-edge does not build. The script
// prefers the real binary (`pxe-edge --netboot-dir DIR`) and says which one it measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

func main() {
	root := flag.String("root", ".", "directory to serve")
	addr := flag.String("addr", "0.0.0.0:69", "listen address")
	maxT := flag.Int("max", tftp.DefaultMaxTransfers, "concurrent transfers")
	debug := flag.Bool("debug", false, "debug logging")
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	src, err := tftp.NewDirSource(*root, tftp.WithLowercaseFallback())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer src.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := &tftp.Server{Source: src, MaxTransfers: *maxT, Logger: log}
	if err := s.ListenAndServe(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

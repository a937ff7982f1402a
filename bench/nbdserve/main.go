// Command nbdserve is pkg/nbd alone behind flags, for bench/nbd.sh until the daemon wires the
// NBD service in: one image (and optionally an exports directory) on one TCP address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pxe-edge/pxe-edge/internal/tcpcc"
	"github.com/pxe-edge/pxe-edge/pkg/nbd"
)

func main() {
	image := flag.String("image", "", "default export image")
	dir := flag.String("exports", "", "directory of further exports")
	addr := flag.String("addr", "127.0.0.1:10809", "listen address")
	write := flag.Bool("write", false, "allow writes")
	cow := flag.Bool("cow", true, "copy-on-write overlays per client (with -write)")
	cowMem := flag.Bool("cow-in-mem", false, "overlays in memory")
	toRAM := flag.Bool("copy-to-ram", false, "serve the image from memory")
	state := flag.String("overlays", "", "overlay directory")
	debug := flag.Bool("debug", false, "debug logging")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile here until the server stops")
	congestion := flag.String("congestion", "cubic", "TCP congestion control of connections, as --tcp-congestion")
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	s, err := nbd.New(nbd.Config{Default: *image, ExportsDir: *dir, Write: *write, Cow: *cow, CowInMem: *cowMem,
		CopyToRAM: *toRAM, OverlayDir: *state, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, nbd.ErrTooBigForRAM) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := tcpcc.Set(ln, *congestion); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = s.Serve(ctx, ln)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// Command http-server runs pkg/http's server alone, for bench/http.sh and for strace
// checks, until cmd/pxe-edge wires --http. Not part of the product.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pxe-edge/pxe-edge/internal/tcpcc"
	"github.com/pxe-edge/pxe-edge/pkg/events"
	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
)

func main() {
	root := flag.String("root", ".", "netboot directory")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	status := flag.Bool("status", true, "status routes")
	maxConns := flag.Int("max-conns", 256, "concurrent connection cap")
	perClient := flag.Int("max-conns-per-client", 256, "connection cap per remote address (wrk runs from one)")
	logPath := flag.String("log", "/dev/null", "access log file")
	congestion := flag.String("congestion", "cubic", "TCP congestion control of connections, as --tcp-congestion")
	flag.Parse()

	lf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bus := events.NewBus()
	s, err := httpd.New(httpd.Config{
		Root: *root, Status: *status, MaxConns: *maxConns, MaxConnsPerClient: *perClient, Events: bus, Version: "bench",
		Logger: slog.New(slog.NewTextHandler(lf, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
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
	fmt.Println("listening", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

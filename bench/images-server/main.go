// Command images-server serves an image catalogue (pkg/images) under /images/ and the same
// directory's plain files under /plain/ with net/http's file server, for bench/images.sh,
// until the daemon mounts the images handler. Not part of the product.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/pxe-edge/pxe-edge/pkg/images"
)

func main() {
	dir := flag.String("images", ".", "images directory")
	plain := flag.String("plain", ".", "directory served under /plain/")
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()

	cat := images.NewCatalog(*dir, nil)
	if err := cat.Rescan(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/images/", &images.Handler{Catalog: cat})
	mux.Handle("/plain/", http.StripPrefix("/plain/", http.FileServer(http.Dir(*plain))))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr())
	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

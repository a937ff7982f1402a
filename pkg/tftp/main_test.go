package tftp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The namespace tests run the server as a separate process inside the server namespace:
// transfer sockets are opened lazily, one per transfer, and netlab's NS.Do only pins the
// sockets opened inside its callback. Re-executing the test binary with helperEnv set turns
// it into that server.
const helperEnv = "PXE_TFTP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain serves TFTP_ROOT on TFTP_ADDR (default 0.0.0.0:69) until SIGTERM, then shuts
// down with a short grace period. TFTP_TIMEOUT_MS, TFTP_RETRIES, TFTP_MAX, TFTP_PER_CLIENT,
// TFTP_QUEUE and TFTP_DEBUG tune it.
func helperMain() int {
	level := slog.LevelInfo
	if os.Getenv("TFTP_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var opts []DirOption
	if os.Getenv("TFTP_LOWERCASE") != "" {
		opts = append(opts, WithLowercaseFallback())
	}
	src, err := NewDirSource(os.Getenv("TFTP_ROOT"), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer src.Close()
	s := &Server{Source: src, Logger: log}
	if v, err := strconv.Atoi(os.Getenv("TFTP_TIMEOUT_MS")); err == nil {
		s.Timeout = time.Duration(v) * time.Millisecond
	}
	if v, err := strconv.Atoi(os.Getenv("TFTP_RETRIES")); err == nil {
		s.Retries = v
	}
	if v, err := strconv.Atoi(os.Getenv("TFTP_MAX")); err == nil {
		s.MaxTransfers = v
	}
	if v, err := strconv.Atoi(os.Getenv("TFTP_PER_CLIENT")); err == nil {
		s.MaxPerClient = v
	}
	if v, err := strconv.Atoi(os.Getenv("TFTP_QUEUE")); err == nil {
		s.MaxQueued = v
	}
	addr := os.Getenv("TFTP_ADDR")
	if addr == "" {
		addr = "0.0.0.0:69"
	}
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "READY %s\n", conn.LocalAddr())
	if err := s.Serve(context.Background(), conn); err != nil && err != ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-shutdown // Shutdown lets running transfers finish
	return 0
}

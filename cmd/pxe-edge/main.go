// Command pxe-edge is a portable PXE boot server: TFTP (on by default, as in PyPXE), HTTP and
// DHCP (full, proxy or auto, only when asked for) in one static binary. It takes PyPXE's flags
// and JSON configuration; see `pxe-edge --help`.
//
// Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for a bad command line or
// configuration, 1 for anything else (a socket that cannot be opened, a missing capability).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pxe-edge/pxe-edge/internal/config"
	"github.com/pxe-edge/pxe-edge/internal/daemon"
)

// version is stamped by the Makefile (-X main.version=…).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	res, err := config.Parse(args)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "pxe-edge: %s\n", line)
		}
		if errors.Is(err, config.ErrUsage) {
			return 2
		}
		return 1
	}
	switch res.Action {
	case config.Help:
		fmt.Fprint(stdout, config.Usage("pxe-edge"))
		return 0
	case config.Version:
		fmt.Fprintf(stdout, "pxe-edge %s\n", version)
		return 0
	case config.DumpConfig, config.DumpConfigMerged:
		_, _ = stdout.Write(res.Config.Dump())
		return 0
	}
	cfg := res.Config
	host, _ := os.Hostname()
	logs, err := daemon.NewLoggers(cfg, stderr, host, os.Getpid())
	if err != nil {
		fmt.Fprintf(stderr, "pxe-edge: bad configuration: %v\n", err)
		return 2
	}
	defer logs.Close()

	d, err := daemon.New(cfg, logs, daemon.Options{Version: version})
	if err != nil {
		logs.Main.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := d.Run(ctx, hup); err != nil {
		logs.Main.Error("cannot serve", "err", err)
		if errors.Is(err, daemon.ErrBadConfig) {
			return 2
		}
		return 1
	}
	return 0
}

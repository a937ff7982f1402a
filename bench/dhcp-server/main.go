// Command dhcp-server runs pxe-edge's DHCP path (pkg/rawdhcp socket and serve loop,
// pkg/dhcpd, pkg/lease) without the rest of the daemon, for bench/dhcp.sh: it can switch
// off the ARP probe and set the worker count, which bin/pxe-edge has no flags for, so the
// durable-commit path can be measured against servers that do not probe. It stores leases
// exactly as the daemon does. Not part of the product; run it only inside a namespace.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

func main() {
	iface := flag.String("iface", "", "interface to serve (required)")
	server := flag.String("server-ip", "", "our address on -iface (required)")
	mask := flag.String("subnet", "255.255.255.0", "subnet mask")
	begin := flag.String("begin", "", "first pool address (required)")
	end := flag.String("end", "", "last pool address (required)")
	state := flag.String("state-dir", "", "lease store directory (required)")
	probe := flag.Duration("probe-wait", -1, "ARP probe wait before offering a new address; negative: no probe")
	workers := flag.Int("workers", 4, "handler goroutines (the daemon uses 4)")
	fill := flag.Int("fill", 0, "instead of serving, commit this many bound leases from -begin on (MACs 02:00:00:xx:xx:xx) into -state-dir and exit")
	flag.Parse()
	if *fill > 0 {
		if err := fillStore(*state, *begin, *fill); err != nil {
			fmt.Fprintln(os.Stderr, "dhcp-server:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*iface, *server, *mask, *begin, *end, *state, *probe, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "dhcp-server:", err)
		os.Exit(1)
	}
}

func run(iface, server, mask, begin, end, state string, probe time.Duration, workers int) error {
	if iface == "" || state == "" {
		return fmt.Errorf("-iface and -state-dir are required")
	}
	sip, err1 := netip.ParseAddr(server)
	m, err2 := netip.ParseAddr(mask)
	b, err3 := netip.ParseAddr(begin)
	e, err4 := netip.ParseAddr(end)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return err
		}
	}
	subnet, err := dhcpd.PrefixFromMask(sip, m)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, rep, err := lease.Open(state, lease.Options{Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(os.Stderr, "dhcp-server: %d leases loaded from %s\n", rep.Leases, state)
	conn, err := rawdhcp.Listen(iface, &rawdhcp.Config{ServerAddr: sip, Ports: []uint16{rawdhcp.ServerPort}, Logger: log})
	if err != nil {
		return err
	}
	defer conn.Close()
	srv, err := dhcpd.New(dhcpd.Config{
		Mode:          dhcpd.ModeFull,
		Boot:          boot.Config{ServerIP: sip, TFTP: true},
		Store:         st,
		Interface:     iface,
		ServerIP:      sip,
		Subnet:        subnet,
		Begin:         b,
		End:           e,
		Authoritative: true,
		ProbeWait:     probe,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if probe > 0 {
		// dhcpd opens no socket: the ARP prober comes from the link layer, as in the daemon.
		p, err := rawdhcp.OpenARPProber(iface, sip)
		if err != nil {
			return err
		}
		defer p.Close()
		srv.SetProber(p)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, "dhcp-server: serving", iface)
	return (&rawdhcp.Server{Handler: srv, Workers: workers, Logger: log}).Serve(ctx, conn)
}

// fillStore gives a state directory n leases, as n clients would have after booting, for
// memory measurements of a server that starts with a full table.
func fillStore(dir, begin string, n int) error {
	ip, err := netip.ParseAddr(begin)
	if err != nil {
		return err
	}
	st, _, err := lease.Open(dir, lease.Options{})
	if err != nil {
		return err
	}
	exp := time.Now().Add(12 * time.Hour)
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = ip
		ip = ip.Next()
	}
	// 64 committers at once: the store's group commit makes this a few hundred syncs.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				mac := []byte{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
				l := lease.Lease{MAC: mac, IP: ips[i], Expiry: exp, Hostname: fmt.Sprintf("node-%05d", i), State: lease.Bound}
				if err := st.Commit(context.Background(), l); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

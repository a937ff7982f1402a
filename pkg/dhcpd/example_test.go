package dhcpd_test

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// How the daemon wires the server: flags → Config, the lease store, the rawdhcp Conn on
// ports 67 and 4011, and the serve loop. Auto mode asks Detect first.
func Example() {
	ctx := context.Background()
	server := netip.MustParseAddr("192.168.2.2")
	subnet, err := dhcpd.PrefixFromMask(server, netip.MustParseAddr("255.255.255.0"))
	if err != nil {
		slog.Error("bad subnet", "err", err) // exit code 2
		return
	}
	store, _, err := lease.Open("/var/lib/pxe-edge", lease.Options{})
	if err != nil {
		return
	}
	defer store.Close()
	resv, err := dhcpd.LoadReservations("/etc/pxe-edge/static.json") // and again on SIGHUP
	if err != nil {
		return
	}
	mode := dhcpd.ModeFull
	if r, err := dhcpd.Detect(ctx, "eth0", 4*time.Second); err == nil && r.Found { // --dhcp-auto
		mode = dhcpd.ModeProxy
	}
	srv, err := dhcpd.New(dhcpd.Config{
		Mode:         mode,
		Interface:    "eth0",
		ServerIP:     server,
		Subnet:       subnet,
		Begin:        netip.MustParseAddr("192.168.2.100"),
		End:          netip.MustParseAddr("192.168.2.150"),
		Router:       netip.MustParseAddr("192.168.2.1"),
		DNS:          []netip.Addr{netip.MustParseAddr("8.8.8.8")},
		Reservations: resv,
		Store:        store,
		Boot:         boot.Config{ServerIP: server, TFTP: true},
	})
	if err != nil {
		return // the error names the setting: exit code 2
	}
	defer srv.Close()
	conn, err := rawdhcp.Listen("eth0", &rawdhcp.Config{ServerAddr: server, Ports: []uint16{rawdhcp.ServerPort, rawdhcp.PXEServicePort}})
	if err != nil {
		return
	}
	defer conn.Close()
	srv.SetReplier(conn) // ARP probes run off the serve loop
	_ = (&rawdhcp.Server{Handler: srv, Workers: 4}).Serve(ctx, conn)
}

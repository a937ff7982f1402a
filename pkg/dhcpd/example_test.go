package dhcpd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
	"github.com/pxe-edge/pxe-edge/pkg/dhcpd"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// How the daemon wires the server: flags → Config, the lease store, and the link layer
// from pkg/rawdhcp: the Conn on ports 67 and 4011 with its serve loop, the ARP prober and
// the watch for other DHCP servers. Auto mode asks rawdhcp.Detect first.
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
	if r, err := rawdhcp.Detect(ctx, "eth0", 4*time.Second); err == nil && r.Found { // --dhcp-auto
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
	if prober, err := rawdhcp.OpenARPProber("eth0", server); err == nil {
		defer prober.Close()
		srv.SetProber(prober)
	}
	if watch, err := rawdhcp.OpenServerWatch("eth0"); err == nil {
		defer watch.Close()
		go watch.Run(ctx, server, srv.SawServer) // warns about another DHCP server
	}
	conn, err := rawdhcp.Listen("eth0", &rawdhcp.Config{ServerAddr: server, Ports: []uint16{rawdhcp.ServerPort, rawdhcp.PXEServicePort}})
	if err != nil {
		return
	}
	defer conn.Close()
	srv.SetReplier(conn) // ARP probes run off the serve loop
	_ = (&rawdhcp.Server{Handler: srv, Workers: 4}).Serve(ctx, conn)
}

// The server's logic without sockets: a UEFI x64 PXE client's DISCOVER gets an OFFER of
// the first pool address with the boot file for its architecture.
func ExampleServer_Handle() {
	server := netip.MustParseAddr("192.168.2.2")
	srv, err := dhcpd.New(dhcpd.Config{
		Mode:      dhcpd.ModeFull,
		ServerIP:  server,
		Subnet:    netip.MustParsePrefix("192.168.2.0/24"),
		Begin:     netip.MustParseAddr("192.168.2.100"),
		End:       netip.MustParseAddr("192.168.2.100"),
		ProbeWait: -1,
		Boot:      boot.Config{ServerIP: server, TFTP: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	var req, resp rawdhcp.Message
	req.Op = rawdhcp.BootRequest
	req.SetHardwareAddr(net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	req.SetMessageType(rawdhcp.Discover)
	req.SetVendorClass("PXEClient:Arch:00007:UNDI:003016")
	req.SetClientArchs(7)
	r := srv.Handle(context.Background(), &req, rawdhcp.ServerPort, &resp)
	fmt.Println(r, resp.YIAddr, string(resp.BootFileName()))
	// Output: OFFER 192.168.2.100 ipxe.efi
}

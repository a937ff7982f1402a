package tftp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// A Server on its own (PyPXE's promise: each server usable alone): a directory served on a
// loopback port, fetched by a few lines of client built from the package's codec.
func Example() {
	dir, _ := os.MkdirTemp("", "tftp-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello over TFTP\n"), 0o644)

	src, err := tftp.NewDirSource(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &tftp.Server{Source: src, Logger: slog.New(slog.DiscardHandler)}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()

	// The client: a read request, then an ACK for each DATA block until a short one.
	c, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer c.Close()
	server := netip.MustParseAddrPort(conn.LocalAddr().String())
	c.WriteToUDPAddrPort(tftp.AppendRequest(nil, &tftp.RequestPacket{Op: tftp.OpRRQ, Filename: "hello.txt", Mode: "octet"}), server)
	buf := make([]byte, 1024)
	var got []byte
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			fmt.Println(err)
			break
		}
		var p tftp.Packet
		if p.Decode(buf[:n]) != nil || p.Op != tftp.OpDATA {
			fmt.Println("unexpected packet")
			break
		}
		got = append(got, p.Data...)
		c.WriteToUDPAddrPort(tftp.AppendAck(nil, p.Block), from) // from: the transfer's own port
		if len(p.Data) < 512 {
			break
		}
	}
	fmt.Printf("%q\n", got)
	stop()
	fmt.Println("Serve:", <-done)
	// Output:
	// "hello over TFTP\n"
	// Serve: <nil>
}

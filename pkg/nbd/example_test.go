package nbd_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/pxe-edge/pxe-edge/pkg/nbd"
)

// A Server on its own: one image, served read-only on a loopback port, read by a few lines
// of client that speak the protocol through the package's codec.
func Example() {
	dir, _ := os.MkdirTemp("", "nbd-example")
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "root.img")
	os.WriteFile(img, append([]byte("hello from NBD"), make([]byte, 4096-14)...), 0o644)

	s, err := nbd.New(nbd.Config{Default: img})
	if err != nil {
		log.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()

	c, _ := net.Dial("tcp", ln.Addr().String())
	r := bufio.NewReader(c)
	io.ReadFull(r, make([]byte, 18))                          // NBDMAGIC, IHAVEOPT, handshake flags
	c.Write([]byte{0, 0, 0, 3})                               // client flags: fixed newstyle, no zeroes
	opt := []byte("IHAVEOPT\x00\x00\x00\x01\x00\x00\x00\x08") // NBD_OPT_EXPORT_NAME, 8 bytes
	c.Write(append(opt, "root.img"...))
	info := make([]byte, 10) // export size and transmission flags
	io.ReadFull(r, info)
	fmt.Println("size", binary.BigEndian.Uint64(info), "read-only", binary.BigEndian.Uint16(info[8:])&nbd.FlagReadOnly != 0)

	c.Write(nbd.AppendRequest(nil, nbd.Request{Type: nbd.CmdRead, Handle: 1, Offset: 0, Length: 14}))
	reply := make([]byte, 16+14)
	io.ReadFull(r, reply)
	fmt.Printf("error %d, data %q\n", binary.BigEndian.Uint32(reply[4:]), reply[16:])
	c.Close()

	stop()
	fmt.Println("Serve:", <-done)
	s.Close()
	// Output:
	// size 4096 read-only true
	// error 0, data "hello from NBD"
	// Serve: <nil>
}

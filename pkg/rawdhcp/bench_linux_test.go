//go:build linux

package rawdhcp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"golang.org/x/sys/unix"
)

// BenchmarkConnExchange measures one DISCOVER→OFFER exchange through the AF_PACKET Conn
// and Serve in a namespace pair: the client is an ordinary UDP socket that broadcasts a
// DISCOVER with the broadcast flag and reads the broadcast OFFER. allocs/op counts the whole
// process, client included (whose UDP calls do not allocate).
//
//	go test ./pkg/rawdhcp -run '^$' -bench ConnExchange -benchmem
func BenchmarkConnExchange(b *testing.B) {
	l := netlab.New(b)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", "10.30.0.1/24", cli, "eth0", "10.30.0.99/24")
	offer := HandlerFunc(func(w ResponseWriter, req *Message, info *PacketInfo) {
		resp := w.NewReply(Offer)
		resp.YIAddr = netip.AddrFrom4([4]byte{10, 30, 0, 50})
		resp.SetServerID(netip.AddrFrom4([4]byte{10, 30, 0, 1}))
		resp.SetLeaseTime(time.Hour)
		resp.SetSubnetMask(24)
		_ = w.Reply(resp)
	})
	startConn(b, srv, "eth0", nil, offer)
	var u *net.UDPConn
	if err := cli.Do(func() (err error) {
		u, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 68})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	var m Message
	m.Op, m.HType, m.HLen, m.Flags = BootRequest, 1, 6, FlagBroadcast
	copy(m.CHAddr[:], []byte{2, 0, 0, 0, 0, 1})
	m.SetMessageType(Discover)
	m.SetParamRequestList(1, 3, 6, 15, 66, 67)
	m.SetVendorClass("PXEClient:Arch:00000:UNDI:002001")
	pkt, err := m.Append(nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := netip.MustParseAddrPort("10.30.0.255:67") // subnet broadcast: the namespace has no default route
	rc, err := u.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1) })
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := u.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		_ = u.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := u.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatalf("exchange %d: %v", i, err)
		}
	}
}

//go:build linux

package rawdhcp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// TestServeStuckWorkerDoesNotStallOthers: one client's worker hangs (a disk that does not
// return from fsync, a probe that never ends) and that client keeps sending; other
// clients must still be answered, and the overflow is counted.
func TestServeStuckWorkerDoesNotStallOthers(t *testing.T) {
	l := netlab.New(t)
	srv, cli := l.Namespace("srv"), l.Namespace("cli")
	l.Veth(srv, "eth0", "10.31.0.1/24", cli, "eth0", "10.31.0.77/24")

	const workers = 4
	stuck := [6]byte{2, 0, 0, 0, 0, 0x01}
	other := stuck
	for other[5] = 2; ; other[5]++ {
		var a, b Message
		copy(a.CHAddr[:], stuck[:])
		copy(b.CHAddr[:], other[:])
		if shard(&a, workers) != shard(&b, workers) {
			break
		}
	}
	release := make(chan struct{})
	h := HandlerFunc(func(w ResponseWriter, req *Message, info *PacketInfo) {
		if [6]byte(req.CHAddr[:6]) == stuck {
			<-release
			return
		}
		(&testServer{}).ServeDHCP(w, req, info)
	})
	var c *Conn
	if err := srv.Do(func() (err error) { c, err = Listen("eth0", &Config{}); return err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Handler: h, Workers: workers}).Serve(ctx, c) }()
	defer func() {
		close(release)
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		c.Close()
	}()

	var u *net.UDPConn
	if err := cli.Do(func() (err error) {
		u, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.31.0.77:68")))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	inform := func(mac [6]byte) []byte {
		var m Message
		m.Op, m.HType, m.HLen, m.XID = BootRequest, 1, 6, uint32(mac[5])
		m.CIAddr = netip.MustParseAddr("10.31.0.77")
		copy(m.CHAddr[:], mac[:])
		m.SetMessageType(Inform)
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	to := netip.MustParseAddrPort("10.31.0.1:67")
	for range 3 * (queueDepth + 1) {
		if _, err := u.WriteToUDPAddrPort(inform(stuck), to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	for try := range 3 {
		if _, err := u.WriteToUDPAddrPort(inform(other), to); err != nil {
			t.Fatal(err)
		}
		_ = u.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := u.ReadFromUDPAddrPort(buf)
		if err != nil {
			if try == 2 {
				t.Fatalf("no answer to another client while one worker is stuck: %v (stats %+v)", err, c.Stats())
			}
			continue
		}
		var m Message
		if err := m.Decode(buf[:n]); err != nil || m.XID != uint32(other[5]) {
			t.Fatalf("answer %v xid %#x", err, m.XID)
		}
		break
	}
	if st := c.Stats(); st.QueueFull == 0 {
		t.Errorf("stats %+v: no message counted as dropped for a full queue", st)
	}
}

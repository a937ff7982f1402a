package daemon_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/lease"
	"github.com/pxe-edge/pxe-edge/pkg/rawdhcp"
)

// killRounds is how many kill -9 rounds TestKillDuringChurnKeepsAckedLeases runs:
// PXE_EDGE_KILL_ROUNDS, default 3 (bench/reliability.sh runs 100).
func killRounds(t *testing.T) int {
	if s := os.Getenv("PXE_EDGE_KILL_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("PXE_EDGE_KILL_ROUNDS=%q: want 1..1000", s)
		}
		return n
	}
	return 3
}

// pxe-edge killed with SIGKILL at a random moment of a stream of new clients loses no lease
// it acknowledged: every ACK a client received names an address the restarted server's lease
// files still give that client. The clients are a relay agent's (giaddr), so one UDP socket
// drives many MACs.
func TestKillDuringChurnKeepsAckedLeases(t *testing.T) {
	lb := newLab(t, "10.60.20.1/16", "10.60.20.2/16")
	dir, _ := netbootDir(t, "f.bin", 16)
	state := t.TempDir()
	var relay *net.UDPConn
	if err := lb.cli.Do(func() (err error) {
		relay, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 60, 20, 2), Port: 67})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	total := 0
	rounds := killRounds(t)
	for r := 0; r < rounds; r++ {
		p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.20.1",
			"-n", "255.255.0.0", "-b", "10.60.21.1", "-e", "10.60.250.250", "--state-dir", state, "--no-tftp")
		waitFor(t, p, "msg=\"DHCP answering\"")
		acked := map[[6]byte]netip.Addr{}
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- churn(relay, r, stop, func(mac [6]byte, ip netip.Addr) { mu.Lock(); acked[mac] = ip; mu.Unlock() })
		}()
		// Churn is under way once the first ACK came (a loaded machine may take a while);
		// the kill falls at a random moment after that.
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > 0 {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(250)) * time.Millisecond)
		p.Kill()
		<-p.Done()
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("round %d: client: %v", r, err)
		}
		mu.Lock()
		n := len(acked)
		if n == 0 {
			t.Fatalf("round %d: no client was ACKed before the kill: the round proved nothing\n%s", r, p.Output())
		}
		st, _, err := lease.Open(state, lease.Options{})
		if err != nil {
			t.Fatalf("round %d: reopening the lease files after kill -9: %v", r, err)
		}
		for mac, ip := range acked {
			l, ok := st.Get(net.HardwareAddr(mac[:]))
			if !ok || l.IP != ip {
				t.Errorf("round %d: %x was ACKed %s; after kill -9 the store has %v (found %v)", r, mac, ip, l.IP, ok)
			}
		}
		st.Close()
		mu.Unlock()
		total += n
		if t.Failed() {
			t.Fatalf("server output:\n%s", p.Output())
		}
	}
	t.Logf("%d rounds, %d acknowledged leases, all found after kill -9", rounds, total)
}

// churn runs DORA exchanges for new MACs (02:ed:<round>:<n>) through relay until stop, and
// reports every ACK. Each exchange waits at most a second for each reply.
func churn(relay *net.UDPConn, round int, stop <-chan struct{}, ack func([6]byte, netip.Addr)) error {
	rc := newRelayClient(relay, "10.60.20.1", "10.60.20.2")
	// At most churnMax new leases a round, so a hundred rounds fit the test's pool.
	for n := 0; n < churnMax; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		mac := [6]byte{0x02, 0xed, byte(round), byte(n >> 16), byte(n >> 8), byte(n)}
		ip, err := rc.dora(mac, uint32(round)<<24|uint32(n)<<1)
		if err != nil {
			return ignoreAfterStop(stop, err)
		}
		ack(mac, ip)
	}
	return nil
}

// churnMax bounds one round's new leases: 100 rounds of it fit the 58 000-address pool.
const churnMax = 500

// relayClient speaks DHCP as a relay agent (giaddr) from one UDP socket on port 67, so one
// socket can act for many MACs.
type relayClient struct {
	conn     *net.UDPConn
	server   *net.UDPAddr
	gi       netip.Addr
	buf      []byte
	req, got rawdhcp.Message
}

func newRelayClient(conn *net.UDPConn, server, giaddr string) *relayClient {
	return &relayClient{conn: conn, server: net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(server), 67)),
		gi: netip.MustParseAddr(giaddr), buf: make([]byte, 1500)}
}

// exchange sends one request for mac and waits (a second at most) for the reply of type
// want; a reply of another type is an error.
func (rc *relayClient) exchange(mac [6]byte, xid uint32, typ, want rawdhcp.MessageType, requested, serverID, ciaddr netip.Addr) (*rawdhcp.Message, error) {
	req := &rc.req
	req.Reset()
	req.Op, req.HType, req.HLen, req.Hops, req.XID, req.GIAddr = rawdhcp.BootRequest, 1, 6, 1, xid, rc.gi
	copy(req.CHAddr[:], mac[:])
	req.SetMessageType(typ)
	if requested.IsValid() {
		req.SetRequestedIP(requested)
	}
	if serverID.IsValid() {
		req.SetServerID(serverID)
	}
	if ciaddr.IsValid() {
		req.CIAddr = ciaddr
	}
	out, err := req.Append(nil)
	if err != nil {
		return nil, err
	}
	if _, err := rc.conn.WriteToUDP(out, rc.server); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Second)
	for {
		_ = rc.conn.SetReadDeadline(deadline)
		n, _, err := rc.conn.ReadFromUDP(rc.buf)
		if err != nil {
			return nil, err // a timeout too: no answer
		}
		if rc.got.Decode(rc.buf[:n]) != nil || rc.got.XID != xid {
			continue
		}
		if got, _ := rc.got.MessageType(); got != want {
			return nil, fmt.Errorf("%x: got %v, want %v", mac, got, want)
		}
		return &rc.got, nil
	}
}

// dora leases an address for mac (xid and xid+1 for its two exchanges).
func (rc *relayClient) dora(mac [6]byte, xid uint32) (netip.Addr, error) {
	offer, err := rc.exchange(mac, xid, rawdhcp.Discover, rawdhcp.Offer, netip.Addr{}, netip.Addr{}, netip.Addr{})
	if err != nil {
		return netip.Addr{}, err
	}
	ip := offer.YIAddr
	sid, _ := offer.ServerID()
	ack, err := rc.exchange(mac, xid+1, rawdhcp.Request, rawdhcp.Ack, ip, sid, netip.Addr{})
	if err != nil {
		return netip.Addr{}, err
	}
	return ack.YIAddr, nil
}

// renew renews mac's lease on ip (RENEWING: ciaddr set, no server id).
func (rc *relayClient) renew(mac [6]byte, xid uint32, ip netip.Addr) error {
	_, err := rc.exchange(mac, xid, rawdhcp.Request, rawdhcp.Ack, netip.Addr{}, netip.Addr{}, ip)
	return err
}

// ignoreAfterStop treats an error as the server's death (nil) when the server is dead or
// about to be: a timeout, or anything once stop is closed.
func ignoreAfterStop(stop <-chan struct{}, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		<-stop
		return nil
	}
	select {
	case <-stop:
		return nil
	default:
		return err
	}
}

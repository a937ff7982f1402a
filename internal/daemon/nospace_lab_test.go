package daemon_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"net/netip"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
	"github.com/pxe-edge/pxe-edge/pkg/lease"
)

// nospaceCycles is how many fill/free cycles TestFullDiskDHCPRecovers runs:
// PXE_EDGE_NOSPACE_CYCLES, default 2 (bench/reliability.sh: 20).
func nospaceCycles(t *testing.T) int {
	if s := os.Getenv("PXE_EDGE_NOSPACE_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			t.Fatalf("PXE_EDGE_NOSPACE_CYCLES=%q: want 1..200", s)
		}
		return n
	}
	return 2
}

// The state directory on a small tmpfs that fills up (an ISO copied onto the SD card):
// new DHCP clients get no lease while it is full, a client holding one renews, TFTP and
// HTTP go on serving and /metrics says why; freeing the space brings DHCP back without a
// restart; a restart on the full disk still serves; no acknowledged lease is lost.
func TestFullDiskDHCPRecovers(t *testing.T) {
	netlab.RequireCommands(t, "mount", "umount", "tftp", "curl")
	lb := newLab(t, "10.60.24.1/16", "10.60.24.2/16")
	dir, sum := netbootDir(t, "f.bin", 4096)
	state := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", state).Run() })
	var relay *net.UDPConn
	if err := lb.cli.Do(func() (err error) {
		relay, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 60, 24, 2), Port: 67})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	rc := newRelayClient(relay, "10.60.24.1", "10.60.24.2")
	start := func() *netlab.Proc {
		p := lb.srv.Start(binary(t), "-a", dir, "--dhcp", "--iface", "eth0", "-s", "10.60.24.1",
			"-n", "255.255.0.0", "-b", "10.60.25.1", "-e", "10.60.40.250", "--state-dir", state, "--http", "--http-port", "8080")
		waitFor(t, p, "msg=\"DHCP answering\"")
		return p
	}
	p := start()
	acked := map[[6]byte]netip.Addr{}
	xid := uint32(1)
	newMAC := func() [6]byte { xid += 2; return [6]byte{0x02, 0xfd, 0, byte(xid >> 16), byte(xid >> 8), byte(xid)} }
	lease1 := func() ([6]byte, netip.Addr, error) {
		m := newMAC()
		ip, err := rc.dora(m, xid)
		if err == nil {
			acked[m] = ip
		}
		return m, ip, err
	}
	known, knownIP, err := lease1()
	if err != nil {
		t.Fatalf("first lease: %v\n%s", err, p.Output())
	}
	filler := filepath.Join(state, "filler")
	fill := func() {
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 4096)
		for i := 0; i < 1024; i++ { // 256 KiB at most
			if _, err := f.Write(chunk); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					return
				}
				t.Fatal(err)
			}
		}
		t.Fatal("the tmpfs never filled")
	}
	degraded := func() bool {
		return strings.Contains(getURL(t, lb.cli, "http://10.60.24.1:8080/metrics"), "pxe_edge_lease_store_degraded 1")
	}
	for cycle := 1; cycle <= nospaceCycles(t); cycle++ {
		fill()
		// New clients until the store notices (a commit needs a new page) and turns them away.
		refused := false
		for i := 0; i < 200 && !refused; i++ {
			if _, _, err := lease1(); err != nil {
				refused = true
			}
		}
		if !refused || !degraded() {
			t.Fatalf("cycle %d: the full disk never stopped new leases (refused %v)\n%s", cycle, refused, p.Output())
		}
		if _, _, err := lease1(); err == nil {
			t.Fatalf("cycle %d: a new client got a lease on a full disk", cycle)
		}
		if err := rc.renew(known, xid+100000, knownIP); err != nil {
			t.Errorf("cycle %d: the known client could not renew on a full disk: %v", cycle, err)
		}
		if got, err := tftpGet(t, lb.cli, "10.60.24.1", "f.bin"); err != nil || got != sum {
			t.Errorf("cycle %d: TFTP on a full disk: %s %v", cycle, got, err)
		}
		if cycle == 1 {
			// A restart on the full disk still serves, from the leases it can read.
			stopOK(t, p)
			p = start()
			if err := rc.renew(known, xid+200000, knownIP); err != nil {
				t.Errorf("after a restart on a full disk, the known client could not renew: %v\n%s", err, p.Output())
			}
		}
		os.Remove(filler)
		back := time.Now()
		var err error
		for deadline := back.Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if _, _, err = lease1(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("cycle %d: DHCP did not come back within 15 s of freeing the space: %v\n%s", cycle, err, p.Output())
		}
		t.Logf("cycle %d: new leases again %v after the space was freed", cycle, time.Since(back).Round(10*time.Millisecond))
	}
	stopOK(t, p)
	st, _, err := lease.Open(state, lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for mac, ip := range acked {
		if l, ok := st.Get(net.HardwareAddr(mac[:])); !ok || l.IP != ip {
			t.Errorf("acknowledged lease %x → %v lost (store has %v %v)", mac, ip, l.IP, ok)
		}
	}
	t.Logf("%d acknowledged leases, none lost", len(acked))
}

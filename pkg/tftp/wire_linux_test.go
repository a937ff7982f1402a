package tftp

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pxe-edge/pxe-edge/internal/netlab"
)

// wire is a userspace Ethernet cable between two namespaces, made of one TAP device in
// each and a goroutine per direction that drops, duplicates and reorders frames. It stands
// in for `tc qdisc … netem` on kernels built without sch_netem (this machine's is one:
// CONFIG_NET_SCH_NETEM is not set), with the same knobs. ARP is passed untouched so that
// address resolution does not add multi-second stalls unrelated to TFTP.
type wire struct {
	a, b      *os.File
	loss, dup float64
	reorder   float64
	wg        sync.WaitGroup

	mu    sync.Mutex
	stats lossStats
}

// newWire creates TAP "eth0" in a and in b, with the given addresses, joined by a wire.
func newWire(t *testing.T, a *netlab.NS, aCIDR string, b *netlab.NS, bCIDR string, loss, dup, reorder float64) *wire {
	t.Helper()
	w := &wire{loss: loss, dup: dup, reorder: reorder}
	w.a = openTap(t, a, "eth0", aCIDR)
	w.b = openTap(t, b, "eth0", bCIDR)
	w.wg.Add(2)
	go w.pump(w.a, w.b, 1)
	go w.pump(w.b, w.a, 2)
	t.Cleanup(func() {
		w.a.Close()
		w.b.Close()
		w.wg.Wait()
		w.mu.Lock()
		t.Logf("wire: %+v", w.stats)
		w.mu.Unlock()
	})
	return w
}

func openTap(t *testing.T, ns *netlab.NS, name, cidr string) *os.File {
	t.Helper()
	var f *os.File
	err := ns.Do(func() error {
		// TUNSETIFF creates the device in the network namespace of the calling thread.
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), "tap-"+name)
		return nil
	})
	if err != nil {
		netlab.Missing(t, "cannot create a TAP device (/dev/net/tun): %v", err)
	}
	ns.MustRun("ip", "addr", "add", cidr, "dev", name)
	ns.MustRun("ip", "link", "set", name, "up")
	return f
}

func (w *wire) pump(from, to *os.File, seed uint64) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(seed, 42))
	buf := make([]byte, 65536)
	var held []byte
	var heldAt time.Time
	for {
		// A held frame goes out after the next one, or after 3 ms of silence.
		if held != nil {
			_ = from.SetReadDeadline(heldAt.Add(3 * time.Millisecond))
		} else {
			_ = from.SetReadDeadline(time.Time{})
		}
		n, err := from.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				_, _ = to.Write(held)
				held = nil
				continue
			}
			return
		}
		frame := buf[:n]
		if n >= 14 && binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			_, _ = to.Write(frame) // ARP, IPv6 ND: untouched
			continue
		}
		w.mu.Lock()
		w.stats.sent++
		switch r := rng.Float64(); {
		case r < w.loss:
			w.stats.dropped++
			w.mu.Unlock()
			continue
		case r < w.loss+w.reorder && held == nil:
			w.stats.reordered++
			w.mu.Unlock()
			held, heldAt = append([]byte(nil), frame...), time.Now()
			continue
		}
		dup := rng.Float64() < w.dup
		if dup {
			w.stats.duplicated++
		}
		w.mu.Unlock()
		_, _ = to.Write(frame)
		if dup {
			_, _ = to.Write(frame)
		}
		if held != nil {
			_, _ = to.Write(held)
			held = nil
		}
	}
}

func (w *wire) snapshot() lossStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

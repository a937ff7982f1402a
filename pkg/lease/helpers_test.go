package lease

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func mac(i int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func ip(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)})
}

func bound(i, ipi int) Lease {
	return Lease{MAC: mac(i), IP: ip(ipi), Expiry: t0.Add(time.Duration(i) * time.Second), Hostname: fmt.Sprintf("host-%d", i), State: Bound}
}

func mustOpen(t testing.TB, dir string, opts Options) (*Store, LoadReport) {
	t.Helper()
	s, rep, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s, rep
}

func mustCommit(t testing.TB, s *Store, l Lease) {
	t.Helper()
	if err := s.Commit(context.Background(), l); err != nil {
		t.Fatalf("Commit(%v %v): %v", l.MAC, l.IP, err)
	}
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// dump renders a lease list for comparison in failure messages.
func dump(ls []Lease) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%v %v %v %s %q %x\n", l.IP, l.MAC, l.State, l.Expiry.UTC().Format(time.RFC3339), l.Hostname, l.ClientID)
	}
	return b.String()
}

func equalLeases(a, b []Lease) bool {
	return slices.EqualFunc(a, b, func(x, y Lease) bool {
		return x.IP == y.IP && string(x.MAC) == string(y.MAC) && x.State == y.State &&
			x.Expiry.Equal(y.Expiry) && x.Hostname == y.Hostname && string(x.ClientID) == string(y.ClientID)
	})
}

// countingSync wraps the default sync and counts calls.
type countingSync struct{ n atomic.Int64 }

func (c *countingSync) sync(f *os.File) error { c.n.Add(1); return datasync(f) }

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var bg = context.Background()

// scratchDir returns a directory on tmpfs when there is one: the tests that open
// thousands of stores check parsing, not the disk, and file creation on a busy disk is slow.
func scratchDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "lease-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// resetDir removes the store files from dir so it can be reused.
func resetDir(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

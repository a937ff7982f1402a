package bootfs

import (
	"net/netip"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// BenchmarkOpen measures what the wrapper adds to an open (directory checks, extra
// lookups), against the bare tftp.DirSource.
func BenchmarkOpen(b *testing.B) {
	dir := tree(b, testTree)
	inner, err := tftp.NewDirSource(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer inner.Close()
	s := newSource(b, dir, WithMACLookup(lookup))
	cases := []struct {
		name   string
		src    tftp.FileSource
		client netip.Addr
		path   string
	}{
		{"dirsource/root", inner, ipB, "start4.elf"},
		{"bootfs/root-no-client-dir", s, netip.MustParseAddr("10.70.0.99"), "start4.elf"},
		{"bootfs/mac-dir-hit", s, ipA, "boot.ipxe"},
		{"bootfs/mac+ip-dirs-miss-to-root", s, ipA, "start4.elf"},
		{"bootfs/pi-prefix-fallback", s, ipPi, "3c8da5af/start4.elf"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := &tftp.Request{Path: c.path, Client: netip.AddrPortFrom(c.client, 2070), Local: local, Mode: "octet"}
			b.ReportAllocs()
			for b.Loop() {
				f, err := c.src.Open(req)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

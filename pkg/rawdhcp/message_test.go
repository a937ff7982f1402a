package rawdhcp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// discoverBytes builds a DISCOVER by hand, independent of Append, so Decode is checked
// against bytes written from the RFC layout rather than against the encoder.
func discoverBytes(opts ...[]byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, 6
	copy(b[4:], []byte{0xde, 0xad, 0xbe, 0xef})
	b[10] = 0x80
	copy(b[28:], []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	copy(b[236:], []byte{99, 130, 83, 99})
	for _, o := range opts {
		b = append(b, o...)
	}
	return append(b, 255)
}

func TestDecodeHandBuilt(t *testing.T) {
	b := discoverBytes(
		[]byte{53, 1, 1},
		[]byte{55, 6, 1, 3, 0, 235, 3, 255},
		[]byte{57, 2, 0x05, 0xc0},
		[]byte{60, 9}, []byte("PXEClient"),
		[]byte{77, 4}, []byte("iPXE"),
		[]byte{93, 4, 0, 7, 0, 9},
		[]byte{94, 3, 1, 3, 0},
		[]byte{97, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		[]byte{175, 3, 0xb1, 1, 1},
		[]byte{50, 4, 10, 30, 0, 9},
	)
	var m Message
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	if m.Op != BootRequest || m.XID != 0xdeadbeef || !m.Broadcast() {
		t.Errorf("header: op %d xid %#x flags %#x", m.Op, m.XID, m.Flags)
	}
	if got := m.HardwareAddr().String(); got != "52:54:00:12:34:56" {
		t.Errorf("chaddr %s", got)
	}
	if typ, ok := m.MessageType(); !ok || typ != Discover {
		t.Errorf("type %v %v", typ, ok)
	}
	if got := m.AppendParams(nil); len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 235 {
		t.Errorf("params %v", got)
	}
	if m.ReplyLimit() != 1472-28 {
		t.Errorf("reply limit %d", m.ReplyLimit())
	}
	if string(m.VendorClass()) != "PXEClient" || !m.IsIPXE() || !m.HasUserClass("iPXE") {
		t.Errorf("60 %q, iPXE %v", m.VendorClass(), m.IsIPXE())
	}
	if archs, ok := m.ClientArchs(nil); !ok || len(archs) != 2 || archs[0] != 7 || archs[1] != 9 {
		t.Errorf("archs %v %v", archs, ok)
	}
	if typ, maj, mnr, ok := m.ClientNDI(); !ok || typ != 1 || maj != 3 || mnr != 0 {
		t.Errorf("ndi %d %d %d", typ, maj, mnr)
	}
	if u, ok := m.UUID(); !ok || u[0] != 1 || u[15] != 16 {
		t.Errorf("uuid %x %v", u, ok)
	}
	if a, ok := m.RequestedIP(); !ok || a != netip.MustParseAddr("10.30.0.9") {
		t.Errorf("50 %v", a)
	}
}

func TestUserClassEncodings(t *testing.T) {
	for _, tc := range []struct {
		raw  []byte
		want []string
	}{
		{[]byte("iPXE"), []string{"iPXE"}},
		{[]byte{4, 'i', 'P', 'X', 'E', 3, 'f', 'o', 'o'}, []string{"iPXE", "foo"}},
		{[]byte{4, 'i', 'P'}, []string{"\x04iP"}}, // truncated RFC 3004: one opaque class
		{[]byte{0}, []string{"\x00"}},
	} {
		var m Message
		m.Options.Set(OptUserClass, tc.raw)
		var got []string
		for _, c := range m.UserClasses(nil) {
			got = append(got, string(c))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q want %q", tc.raw, got, tc.want)
		}
		for _, w := range tc.want {
			if !m.HasUserClass(w) {
				t.Errorf("%q: HasUserClass(%q) false", tc.raw, w)
			}
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	full := discoverBytes([]byte{53, 1, 1})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short header":   full[:235],
		"option length":  discoverBytes([]byte{53, 9, 1}),
		"no length byte": append(full[:240:240], 53),
		"overload bad":   discoverBytes([]byte{52, 1, 7}),
		"overload len":   discoverBytes([]byte{52, 2, 1, 1}),
		"bad option in file": func() []byte {
			b := discoverBytes([]byte{52, 1, 1})
			b[108], b[109] = 12, 200
			return b
		}(),
	} {
		var m Message
		err := m.Decode(b)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// A BOOTP message without cookie is valid and carries no options.
	var m Message
	if err := m.Decode(full[:236]); err != nil || m.Options.Len() != 0 {
		t.Errorf("plain BOOTP: %v, %d options", err, m.Options.Len())
	}
}

func TestOverloadAndLongOptions(t *testing.T) {
	b := discoverBytes([]byte{53, 1, 3}, []byte{52, 1, 3}, []byte{12, 2, 'a', 'b'})
	// file carries the rest of option 12 (RFC 3396 join) and option 67; sname carries 66.
	copy(b[108:], []byte{12, 2, 'c', 'd', 67, 3, 'x', '.', 'e', 255})
	copy(b[44:], []byte{66, 3, '1', '.', '2', 255})
	var m Message
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	if string(m.Hostname()) != "abcd" || string(m.BootFileName()) != "x.e" || string(m.TFTPServerName()) != "1.2" {
		t.Errorf("12 %q 67 %q 66 %q", m.Hostname(), m.BootFileName(), m.TFTPServerName())
	}
	if m.Options.Has(OptOverload) || m.File != [128]byte{} || m.SName != [64]byte{} {
		t.Errorf("overload leaked: has52 %v", m.Options.Has(OptOverload))
	}

	// Encoding a 600-byte option splits it into 255+255+90 and decoding joins it.
	long := bytes.Repeat([]byte{'z'}, 600)
	var r Message
	r.InitReply(&m, Offer)
	r.Options.Set(OptVendorSpecific, long)
	out, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte{43, 255}); n != 2 {
		t.Errorf("found %d 255-byte pieces of option 43", n)
	}
	var back Message
	if err := back.Decode(out); err != nil {
		t.Fatal(err)
	}
	if v, _ := back.VendorSpecific(); !bytes.Equal(v, long) {
		t.Errorf("joined option 43 is %d bytes", len(v))
	}
}

func TestReplyRoundTrip(t *testing.T) {
	var req Message
	if err := req.Decode(discoverBytes([]byte{53, 1, 1}, []byte{82, 4, 1, 2, 'a', 'b'})); err != nil {
		t.Fatal(err)
	}
	var r Message
	r.InitReply(&req, Offer)
	r.YIAddr = netip.MustParseAddr("10.30.1.50")
	r.SIAddr = netip.MustParseAddr("10.30.0.1")
	r.SetServerID(netip.MustParseAddr("10.30.0.1"))
	r.SetLeaseTime(time.Hour)
	r.SetRenewalTime(30 * time.Minute)
	r.SetRebindingTime(52*time.Minute + 30*time.Second)
	r.SetSubnetMask(20)
	r.SetRouters(netip.MustParseAddr("10.30.0.1"))
	r.SetDNSServers(netip.MustParseAddr("10.30.0.1"), netip.MustParseAddr("10.30.0.2"))
	r.SetVendorClass("PXEClient")
	r.SetBootFileName("undionly.kpxe")
	if err := r.SetFileName("undionly.kpxe"); err != nil {
		t.Fatal(err)
	}
	if rai, ok := req.RelayAgentInfo(); ok {
		r.SetRelayAgentInfo(rai)
	}
	out, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[240] != 53 {
		t.Errorf("first option %d, want 53", out[240])
	}
	var m Message
	if err := m.Decode(out); err != nil {
		t.Fatal(err)
	}
	if m.Op != BootReply || m.XID != req.XID || m.Flags != req.Flags || m.CHAddr != req.CHAddr {
		t.Errorf("copied fields differ")
	}
	if mask, _ := m.SubnetMask(); mask != netip.MustParseAddr("255.255.240.0") {
		t.Errorf("mask %v", mask)
	}
	if d, _ := m.LeaseTime(); d != time.Hour {
		t.Errorf("lease %v", d)
	}
	if dns := m.DNSServers(nil); len(dns) != 2 {
		t.Errorf("dns %v", dns)
	}
	if v, _ := m.RelayAgentInfo(); string(v) != "\x01\x02ab" {
		t.Errorf("82 %q", v)
	}
	if string(m.FileName()) != "undionly.kpxe" {
		t.Errorf("file %q", m.FileName())
	}
	if code, _ := m.Options.At(m.Options.Len() - 1); code != OptRelayAgentInfo {
		t.Errorf("last option %d", code)
	}
	m.SetHardwareAddr(net.HardwareAddr{1, 2, 3, 4, 5, 6})
	if m.MAC() != [6]byte{1, 2, 3, 4, 5, 6} || m.HLen != 6 {
		t.Errorf("SetHardwareAddr")
	}
}

func TestOptionsSetDel(t *testing.T) {
	var o Options
	o.Set(12, []byte("a"))
	o.Set(15, []byte("bb"))
	o.Set(12, []byte("ccc")) // longer: moves storage, keeps order
	o.Set(15, []byte("dd"))  // same length: in place
	if c, v := o.At(0); c != 12 || string(v) != "ccc" {
		t.Errorf("At(0) = %d %q", c, v)
	}
	o.Del(12)
	if o.Has(12) || o.Len() != 1 {
		t.Errorf("Del")
	}
	o.Set(OptEnd, nil)
	var m Message
	m.Options.CopyFrom(&o)
	if _, err := m.Append(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Append with option 255: %v", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	pkt := discoverBytes(
		[]byte{53, 1, 1}, []byte{55, 6, 1, 3, 6, 15, 66, 67}, []byte{57, 2, 0x05, 0xc0},
		[]byte{60, 32}, []byte("PXEClient:Arch:00000:UNDI:002001"),
		[]byte{77, 4}, []byte("iPXE"), []byte{93, 2, 0, 0}, []byte{94, 3, 1, 2, 1},
		[]byte{97, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	)
	var m Message
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Decode(pkt); err != nil {
			b.Fatal(err)
		}
		if _, ok := m.ClientArch(); !ok {
			b.Fatal("no arch")
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	var req, r Message
	if err := req.Decode(discoverBytes([]byte{53, 1, 1})); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1500)
	srv := netip.MustParseAddr("10.30.0.1")
	b.ReportAllocs()
	for b.Loop() {
		r.InitReply(&req, Offer)
		r.YIAddr = netip.MustParseAddr("10.30.1.50")
		r.SetServerID(srv)
		r.SetLeaseTime(time.Hour)
		r.SetSubnetMask(24)
		r.SetRouters(srv)
		r.SetDNSServers(srv)
		r.SetVendorClass("PXEClient")
		r.SetBootFileName("undionly.kpxe")
		var err error
		if buf, err = r.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMessageString(t *testing.T) {
	var m Message
	if err := m.Decode(discoverBytes([]byte{53, 1, 1}, []byte{61, 1, 1})); err != nil {
		t.Fatal(err)
	}
	m.GIAddr = netip.MustParseAddr("10.30.1.1")
	want := "DISCOVER xid=deadbeef chaddr=52:54:00:12:34:56 broadcast giaddr=10.30.1.1 options=53,61"
	if got := m.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

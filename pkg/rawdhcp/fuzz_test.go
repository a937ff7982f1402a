package rawdhcp

import (
	"bytes"
	"errors"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"
)

// goldenPayloads returns the DHCP payloads of every golden capture, as fuzz seeds.
func goldenPayloads(t testing.TB) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	var out [][]byte
	for _, p := range paths {
		frames, err := readPcap(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if _, payload, err := ParseIPv4UDP(f.ip); err == nil {
				out = append(out, payload)
			}
		}
	}
	return out
}

func equalMessages(a, b *Message) string {
	switch {
	case a.Op != b.Op || a.HType != b.HType || a.HLen != b.HLen || a.Hops != b.Hops:
		return "op/htype/hlen/hops"
	case a.XID != b.XID || a.Secs != b.Secs || a.Flags != b.Flags:
		return "xid/secs/flags"
	case norm(a.CIAddr) != norm(b.CIAddr) || norm(a.YIAddr) != norm(b.YIAddr) || norm(a.SIAddr) != norm(b.SIAddr) || norm(a.GIAddr) != norm(b.GIAddr):
		return "addresses"
	case a.CHAddr != b.CHAddr || a.SName != b.SName || a.File != b.File:
		return "chaddr/sname/file"
	case a.Options.Len() != b.Options.Len():
		return "option count"
	}
	for i := range a.Options.Len() {
		ca, va := a.Options.At(i)
		cb, vb := b.Options.At(i)
		if ca != cb || !bytes.Equal(va, vb) {
			return "option " + strconv.Itoa(int(ca))
		}
	}
	return ""
}

// norm maps the zero Addr to 0.0.0.0, which is how Append encodes it.
func norm(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return netip.IPv4Unspecified()
	}
	return a
}

// FuzzDecode: decoding never panics; whatever decodes re-encodes, and decode → encode →
// decode gives an equal message whose encoding is stable.
func FuzzDecode(f *testing.F) {
	for _, p := range goldenPayloads(f) {
		f.Add(p)
	}
	f.Add(discoverBytes([]byte{53, 1, 3}, []byte{52, 1, 3}, []byte{12, 2, 'a', 'b'}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m1, m2 Message
		if err := m1.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc, err := m1.Append(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if err := m2.Decode(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := equalMessages(&m1, &m2); d != "" {
			t.Fatalf("round trip changed %s", d)
		}
		enc2, err := m2.Append(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %v", err)
		}
		// Decoding into a used message gives the same result as into a fresh one.
		m2.Options.Set(OptHostname, []byte("stale"))
		if err := m2.Decode(b); err != nil {
			t.Fatalf("second decode: %v", err)
		}
		if d := equalMessages(&m1, &m2); d != "" {
			t.Fatalf("reused message differs in %s", d)
		}
	})
}

// FuzzOptionAccessors feeds arbitrary values to every typed accessor: none may panic, and
// whatever a getter accepts its setter reproduces byte for byte.
func FuzzOptionAccessors(f *testing.F) {
	for _, p := range goldenPayloads(f) {
		var m Message
		if m.Decode(p) == nil {
			for i := range m.Options.Len() {
				c, v := m.Options.At(i)
				f.Add(uint8(c), v)
			}
		}
	}
	f.Add(uint8(77), []byte("iPXE"))
	f.Add(uint8(77), []byte{4, 'i', 'P', 'X', 'E', 0})
	f.Add(uint8(55), []byte{1, 0, 3, 235, 3, 255})
	f.Fuzz(func(t *testing.T, code uint8, v []byte) {
		var m Message
		m.Options.Set(OptionCode(code), v)
		for _, c := range []OptionCode{1, 3, 6, 12, 15, 28, 43, 50, 51, 53, 54, 55, 57, 58, 59, 60, 61, 66, 67, 77, 82, 93, 94, 97, 175, 209} {
			m.Options.Set(c, v)
		}
		var r Message
		if a, ok := m.SubnetMask(); ok {
			r.Options.SetAddr(OptSubnetMask, a)
			check(t, &r, OptSubnetMask, v)
		}
		if as := m.Routers(nil); len(as) > 0 {
			r.SetRouters(as...)
			check(t, &r, OptRouter, v)
		}
		if as := m.DNSServers(nil); len(as) > 0 {
			r.SetDNSServers(as...)
			check(t, &r, OptDNS, v)
		}
		for _, get := range []func() (netip.Addr, bool){m.ServerID, m.RequestedIP, m.BroadcastAddr} {
			if a, ok := get(); ok && (!a.Is4() || a.As4() != [4]byte(v)) {
				t.Fatalf("address getter: %v from %x", a, v)
			}
		}
		if d, ok := m.LeaseTime(); ok {
			r.SetLeaseTime(d)
			check(t, &r, OptLeaseTime, v)
		}
		_, _ = m.RenewalTime()
		_, _ = m.RebindingTime()
		if typ, ok := m.MessageType(); ok {
			r.SetMessageType(typ)
			check(t, &r, OptMessageType, v)
			_ = typ.String()
		}
		params := m.AppendParams(nil)
		seen := map[OptionCode]bool{}
		for _, p := range params {
			if p == 0 || p == 255 || seen[p] || !m.Requested(p) {
				t.Fatalf("AppendParams gave %d (%v)", p, params)
			}
			seen[p] = true
		}
		if n, ok := m.MaxMessageSize(); ok {
			r.SetMaxMessageSize(n)
			check(t, &r, OptMaxMessageSize, v)
		}
		if l := m.ReplyLimit(); l < DefaultMaxMessageSize-IPv4UDPHeaderLen {
			t.Fatalf("ReplyLimit %d", l)
		}
		classes := m.UserClasses(nil)
		var joined []byte
		for _, c := range classes {
			if len(classes) > 1 || rfc3004(v) {
				joined = append(joined, byte(len(c)))
			}
			joined = append(joined, c...)
			if !m.HasUserClass(string(c)) {
				t.Fatalf("HasUserClass(%q) false", c)
			}
		}
		if !bytes.Equal(joined, v) {
			t.Fatalf("user classes %q do not rebuild %x", classes, v)
		}
		_ = m.IsIPXE()
		if archs, ok := m.ClientArchs(nil); ok {
			r.SetClientArchs(archs...)
			check(t, &r, OptClientArch, v)
			if a, _ := m.ClientArch(); a != archs[0] {
				t.Fatal("ClientArch differs from ClientArchs[0]")
			}
		}
		_, _, _, _ = m.ClientNDI()
		if u, ok := m.UUID(); ok && !bytes.Equal(u[:], v[1:]) {
			t.Fatal("UUID")
		}
		for _, s := range [][]byte{m.VendorClass(), m.ClientID(), m.Hostname(), m.DomainName(), m.TFTPServerName(), m.BootFileName(), m.PXELinuxConfigFile(), m.ParamRequestList()} {
			if !bytes.Equal(s, v) {
				t.Fatalf("raw getter %q, want %q", s, v)
			}
		}
		// The whole message still encodes and decodes back (long values split and joined).
		enc, err := m.Append(nil)
		if code == 0 || code == 255 || code == 52 {
			if err == nil {
				t.Fatalf("option %d encoded", code)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var back Message
		if err := back.Decode(enc); err != nil {
			t.Fatal(err)
		}
		if d := equalMessages(&m, &back); d != "" {
			t.Fatalf("round trip changed %s", d)
		}
	})
}

func check(t *testing.T, m *Message, code OptionCode, want []byte) {
	t.Helper()
	if got, _ := m.Options.Get(code); !bytes.Equal(got, want) {
		t.Fatalf("option %d: setter wrote %x, getter read %x", code, got, want)
	}
}

// FuzzParseIPv4UDP: never panics, never returns a payload outside its input, and accepts
// what AppendIPv4UDP builds from what it returned.
func FuzzParseIPv4UDP(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	for _, p := range paths {
		frames, err := readPcap(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, fr := range frames {
			f.Add(fr.ip)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := ParseIPv4UDP(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(payload) > 0 {
			start, p := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&payload[0]))
			if p < start || p+uintptr(len(payload)) > start+uintptr(len(b)) {
				t.Fatal("payload outside input")
			}
		}
		pkt, err := AppendIPv4UDP(nil, h, payload)
		if err != nil {
			t.Fatal(err)
		}
		h2, p2, err := ParseIPv4UDP(pkt)
		if err != nil || h2.Src != h.Src || h2.Dst != h.Dst || !bytes.Equal(p2, payload) {
			t.Fatalf("rebuild: %v", err)
		}
	})
}

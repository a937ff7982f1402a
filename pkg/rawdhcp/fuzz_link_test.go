package rawdhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"
)

// FuzzParseIPv4UDPLenient: the reader of the side sockets (server watch, detection), which
// skips the UDP checksum, never panics, never returns a payload outside its input, and reads
// what the strict reader reads whenever that one accepts the packet.
func FuzzParseIPv4UDPLenient(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := parseIPv4UDP(b, false)
		sh, sp, serr := ParseIPv4UDP(b)
		if err != nil {
			if serr == nil {
				t.Fatalf("strict reader accepts %v → %v, lenient one does not: %v", sh.Src, sh.Dst, err)
			}
			return
		}
		if len(payload) > 0 {
			start, p := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&payload[0]))
			if p < start || p+uintptr(len(payload)) > start+uintptr(len(b)) {
				t.Fatal("payload outside input")
			}
		}
		if serr == nil && (sh != h || !bytes.Equal(sp, payload)) {
			t.Fatalf("readers disagree: %+v %d bytes vs %+v %d bytes", sh, len(sp), h, len(payload))
		}
	})
}

// FuzzARPSender: the ARP reader accepts exactly requests and replies of at least 28 bytes
// and reads the sender's address from its place.
func FuzzARPSender(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		sender, ok := arpSender(b)
		want := len(b) >= 28 && (binary.BigEndian.Uint16(b[6:8]) == 1 || binary.BigEndian.Uint16(b[6:8]) == 2)
		if ok != want {
			t.Fatalf("accepted %v, want %v", ok, want)
		}
		if ok && sender != netip.AddrFrom4([4]byte(b[14:18])) {
			t.Fatalf("sender %v", sender)
		}
	})
}

package rawdhcp

import (
	"bytes"
	"testing"
)

// interleaved builds a message of about size bytes whose options area alternates pieces
// of options 224 and 225 (one byte each), the worst case for joining repeated codes, and
// returns the values a reader must see.
func interleaved(t testing.TB, size int) (pkt []byte, want map[OptionCode][]byte) {
	var m Message
	m.Op, m.HType, m.HLen = BootRequest, 1, 6
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	b = b[:len(b)-1] // drop the end option
	want = map[OptionCode][]byte{}
	for i := 0; len(b)+3 < size; i++ {
		code := OptionCode(224 + i%2)
		v := byte(i)
		b = append(b, byte(code), 1, v)
		want[code] = append(want[code], v)
	}
	return append(b, byte(OptEnd)), want
}

// TestDecodeConcatenationBounded: joining thousands of interleaved pieces keeps exactly the
// option bytes (never more than the packet) and the values in order.
func TestDecodeConcatenationBounded(t *testing.T) {
	for _, size := range []int{576, 1500, 9000} {
		pkt, want := interleaved(t, size)
		var m Message
		if err := m.Decode(pkt); err != nil {
			t.Fatal(err)
		}
		for code, v := range want {
			got, ok := m.Options.Get(code)
			if !ok || !bytes.Equal(got, v) {
				t.Fatalf("size %d: option %d: %d bytes, want %d", size, code, len(got), len(v))
			}
		}
		if n := cap(m.Options.buf); n > len(pkt) {
			t.Errorf("size %d: option store of %d bytes for a %d-byte packet", size, n, len(pkt))
		}
		// A warmed message decodes it again without allocating.
		if n := testing.AllocsPerRun(20, func() { _ = m.Decode(pkt) }); n != 0 {
			t.Errorf("size %d: %v allocations per decode", size, n)
		}
	}
}

// BenchmarkDecodeInterleaved is the decode cost of the worst case for option joining at a
// jumbo frame's size.
func BenchmarkDecodeInterleaved(b *testing.B) {
	pkt, _ := interleaved(b, 9000)
	var m Message
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

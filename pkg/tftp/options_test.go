package tftp

import (
	"testing"
	"time"
)

// TestOptionsBounds: option numbers mean the same on every GOARCH. On a 32-bit int the
// ten-digit values below used to wrap (timeout=4294967301 became 5 s); they are checked
// against their ranges in 64 bits. Run it as GOARCH=386 go test ./pkg/tftp -run Options.
func TestOptionsBounds(t *testing.T) {
	lim := Limits{BlockSizeMax: 1468, WindowSizeMax: 64, FileSize: 42}
	tests := []struct {
		name, value string
		want        string // the OACK value; "" when the option must be left out
	}{
		{"timeout", "4294967301", ""}, // 2^32 + 5
		{"timeout", "4294967296", ""}, // 2^32
		{"timeout", "2147483648", ""},
		{"timeout", "9999999999", ""},
		{"timeout", "0000000005", "0000000005"},
		{"timeout", "255", "255"},
		{"windowsize", "4294967297", ""}, // 2^32 + 1
		{"windowsize", "4294967295", ""},
		{"windowsize", "65536", ""},
		{"windowsize", "0000000004", "4"},
		{"blksize", "4294967304", "1468"}, // 2^32 + 8: too large, lowered; never 8
		{"blksize", "4294967295", "1468"},
		{"blksize", "2147483647", "1468"},
		{"blksize", "0000000512", "512"},
		{"blksize", "12345678901", ""}, // eleven digits
		{"tsize", "4294967296", "42"},
		{"tsize", "9999999999", "42"},
	}
	for _, tc := range tests {
		n := Negotiate([]Option{{Name: tc.name, Value: tc.value}}, lim)
		got := ""
		for _, o := range n.OACK {
			if o.Name == tc.name {
				got = o.Value
			}
		}
		if got != tc.want {
			t.Errorf("%s=%s: OACK value %q, want %q", tc.name, tc.value, got, tc.want)
		}
		if tc.name == "timeout" && tc.want == "" && n.Timeout != 0 {
			t.Errorf("%s=%s: timeout %v, want none", tc.name, tc.value, n.Timeout)
		}
		if tc.name == "timeout" && tc.want != "" && n.Timeout != 5*time.Second && n.Timeout != 255*time.Second {
			t.Errorf("%s=%s: timeout %v", tc.name, tc.value, n.Timeout)
		}
	}
}

func TestAtoiOptions(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"65464", 65464, true}, {"2147483647", 2147483647, true},
		{"2147483648", 2147483647, true}, {"4294967301", 2147483647, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {" 1", 0, false}, {"12345678901", 0, false},
	} {
		v, ok := atoi(tc.s)
		if v != tc.want || ok != tc.ok {
			t.Errorf("atoi(%q) = %d, %v; want %d, %v", tc.s, v, ok, tc.want, tc.ok)
		}
	}
}

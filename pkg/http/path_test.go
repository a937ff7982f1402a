package httpd

import (
	"io/fs"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "."},
		{"", "."},
		{"/boot.ipxe", "boot.ipxe"},
		{"//a//b/", "a/b"},
		{"/./a/./b", "a/b"},
		{"/pxelinux.cfg/01-52-54-00-12-34-56", "pxelinux.cfg/01-52-54-00-12-34-56"},
		{"/..", ""},
		{"/a/../b", ""},
		{"/a/..", ""},
		{`/a\b`, ""},
		{"/a\x00b", ""},
		{"/a\nb", ""},
		{"/a\x7fb", ""},
		{"/" + strings.Repeat("a", 2000), ""},
		{"/...", "..."}, // a legal (odd) file name, not a parent reference
		{"/a..b", "a..b"},
	}
	for _, tc := range tests {
		got, err := cleanPath(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("cleanPath(%q) = %q, want refusal", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzCleanPath checks the invariants os.Root relies on: whatever comes out is a valid
// fs path with no parent element, no backslash, no control byte, and cleaning is idempotent.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/boot.ipxe", "/a/../b", "/%2e%2e/x", `/a\..\b`, "/a\x00", "//x//y/", "/./.", "/...", "/\u00e9t\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := cleanPath(in)
		if err != nil {
			return
		}
		if !fs.ValidPath(out) {
			t.Fatalf("cleanPath(%q) = %q: not fs.ValidPath", in, out)
		}
		for _, e := range strings.Split(out, "/") {
			if e == ".." {
				t.Fatalf("cleanPath(%q) = %q has a parent element", in, out)
			}
		}
		if strings.ContainsAny(out, "\\\x00") || strings.HasPrefix(out, "/") {
			t.Fatalf("cleanPath(%q) = %q", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("cleanPath(%q) = %q has a control byte", in, out)
			}
		}
		// f(f(x)) = f(x); not f("/"+f(x)), which a 1024-byte input pushes past the limit.
		again, err := cleanPath(out)
		if err != nil || (again != out) {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
	})
}

package script

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzScriptTemplate renders arbitrary templates against fixed data. The evaluator must not
// panic, must stay within its limits, and wherever it does not refuse a construct or hit a
// limit it must agree with text/template: the same output, or an error from both with the
// same message.
func FuzzScriptTemplate(f *testing.F) {
	for _, c := range tmplCases {
		f.Add(c)
	}
	for _, pat := range []string{"../../netboot/*.ipxe", "testdata/scripts/*"} {
		m, _ := filepath.Glob(pat)
		for _, p := range m {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		for _, d := range []Data{tmplFull, tmplEmpty} {
			st, perr := Parse("f.ipxe", src)
			if perr != nil {
				if errors.Is(perr, ErrUnsupported) {
					return
				}
				if _, werr := oracle("f.ipxe", src, d); werr == nil || werr.Error() != perr.Error() {
					t.Fatalf("%q: parse error %v, text/template: %v", src, perr, werr)
				}
				return
			}
			out, err := st.render(d)
			if len(out) > tmplMaxOutput {
				t.Fatalf("%q: %d bytes of output", src, len(out))
			}
			if err != nil && (errors.Is(err, ErrLimit) || errors.Is(err, ErrUnsupported)) {
				return // text/template would do the unbounded work
			}
			want, werr := oracle("f.ipxe", src, d)
			switch {
			case err == nil && werr != nil:
				t.Fatalf("%q: ours renders %q, text/template fails: %v", src, out, werr)
			case err != nil && werr == nil:
				t.Fatalf("%q: ours fails (%v), text/template renders %q", src, err, want)
			case err != nil && err.Error() != werr.Error() && !strings.Contains(werr.Error(), "reflect:"):
				// Even the messages agree, except text/template's reflect panics.
				t.Fatalf("%q: error\n got %v\nwant %v", src, err, werr)
			case err == nil && string(out) != want:
				t.Fatalf("%q:\n got %q\nwant %q", src, out, want)
			}
		}
	})
}

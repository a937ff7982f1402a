package tftp

import (
	"errors"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest: parsing never panics; what parses re-encodes to bytes that parse to the
// same request; negotiation of its options stays within the limits.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("\x00\x01pxelinux.0\x00octet\x00"))
	f.Add([]byte("\x00\x01f\x00octet\x00blksize\x001468\x00tsize\x000\x00windowsize\x004\x00timeout\x001\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := ParseRequest(AppendRequest(nil, r))
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		r2 := *r
		r2.Mode = strings.ToLower(r2.Mode)
		if !reflect.DeepEqual(again, &r2) {
			t.Fatalf("round trip: %+v != %+v", again, r2)
		}
		for _, lim := range []Limits{
			{BlockSizeMax: 1468, WindowSizeMax: 64, WindowBytesMax: 64 << 10, FileSize: 1 << 40},
			{BlockSizeMax: 65464, WindowSizeMax: 65535},
		} {
			n := Negotiate(r.Options, lim)
			if n.BlockSize < MinBlockSize || n.BlockSize > max(lim.BlockSizeMax, DefaultBlockSize) {
				t.Fatalf("blksize %d outside [8, %d]", n.BlockSize, lim.BlockSizeMax)
			}
			if n.WindowSize < 1 || n.WindowSize > lim.WindowSizeMax {
				t.Fatalf("windowsize %d outside [1, %d]", n.WindowSize, lim.WindowSizeMax)
			}
			if n.Timeout < 0 || n.Timeout.Seconds() > 255 {
				t.Fatalf("timeout %v", n.Timeout)
			}
			for _, o := range n.OACK {
				if o.Name == "blksize" {
					asked := -1
					for _, q := range r.Options {
						if strings.EqualFold(q.Name, "blksize") {
							asked, _ = strconv.Atoi(q.Value)
							break
						}
					}
					if v, _ := strconv.Atoi(o.Value); v > asked {
						t.Fatalf("OACK blksize %d above the %d asked", v, asked)
					}
				}
			}
			if _, err := ParseOACK(AppendOACK(nil, n.OACK)); err != nil {
				t.Fatalf("OACK does not parse: %v", err)
			}
		}
	})
}

// FuzzDecode: packet decoding never panics and agrees with the encoders.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x00\x04\x00\x01"))
	f.Add([]byte("\x00\x05\x00\x08User aborted the transfer\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		switch p.Op {
		case OpACK:
			if got := AppendAck(nil, p.Block); string(got) != string(b[:4]) {
				t.Fatalf("ACK round trip %q != %q", got, b[:4])
			}
		case OpERROR:
			var q Packet
			if err := q.Decode(AppendError(nil, p.Code, string(p.Msg))); err != nil || q.Code != p.Code || string(q.Msg) != string(p.Msg) {
				t.Fatalf("ERROR round trip: %+v vs %+v (%v)", q, p, err)
			}
		case OpDATA:
			if len(p.Data) != len(b)-4 {
				t.Fatalf("DATA payload %d bytes of %d", len(p.Data), len(b))
			}
		case OpOACK:
			if opts, err := ParseOACK(b); err == nil {
				if _, err := ParseOACK(AppendOACK(nil, opts)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzCleanPath: a cleaned path is relative, slash-separated, free of "..", "." and empty
// elements, and a refusal is always a permission error.
func FuzzCleanPath(f *testing.F) {
	f.Add("pxelinux.0")
	f.Add(`..\..\etc\passwd`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CleanPath(s)
		if err != nil {
			if !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("CleanPath(%q): %v is not a permission error", s, err)
			}
			return
		}
		if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") || len(p) > MaxPathLen {
			t.Fatalf("CleanPath(%q) = %q", s, p)
		}
		for e := range strings.SplitSeq(p, "/") {
			if e == "" || e == "." || e == ".." {
				t.Fatalf("CleanPath(%q) = %q has element %q", s, p, e)
			}
		}
		// Names are bytes on the wire and on disk; only UTF-8 ones are checked against
		// io/fs's rules (a Latin-1 name is legal for os.Root).
		if utf8.ValidString(p) && !fs.ValidPath(p) {
			t.Fatalf("CleanPath(%q) = %q is not a valid fs path", s, p)
		}
		if again, err := CleanPath(p); err != nil || again != p {
			t.Fatalf("CleanPath not idempotent: %q -> %q (%v)", p, again, err)
		}
	})
}

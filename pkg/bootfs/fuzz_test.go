package bootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary request paths from two clients through the Source: it must not
// panic, must answer with a not-exist or permission error or a file, never a file from the
// other client's directory or from outside the root, and with the same result each time.
func FuzzOpen(f *testing.F) {
	for _, p := range []string{"boot.ipxe", "/pxelinux.0", `\boot.ipxe`, "3c8da5af/start4.elf", "3c8da5af/config.txt",
		"10.70.0.23/boot.ipxe", "01-52-54-00-12-34-56/boot.ipxe", "dc-a6-32-01-36-c2/cmdline.txt", "../outside",
		"3c8da5af/../10.70.0.23/boot.ipxe", "link/secret", "3c8da5af/link/secret", "a//b/./c", "\x00", ""} {
		f.Add(p, false)
		f.Add(p, true)
	}
	files := map[string]string{}
	for k, v := range testTree {
		files[k] = v
	}
	dir := tree(f, files)
	outside := tree(f, map[string]string{"secret": "outside the root"})
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		f.Fatal(err)
	}
	s := newSource(f, dir, WithMACLookup(lookup))
	f.Fuzz(func(t *testing.T, p string, asB bool) {
		client, other := ipA, "B's"
		if asB {
			client, other = ipB, "A's"
		}
		got, err := read(s, client, p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("Open(%q): unexpected error kind %v", p, err)
			}
		} else {
			if strings.HasPrefix(got, other) {
				t.Fatalf("client %v read %q through %q", client, got, p)
			}
			if got == "outside the root" {
				t.Fatalf("escaped the root through %q", p)
			}
		}
		if got2, err2 := read(s, client, p); got2 != got || (err2 == nil) != (err == nil) {
			t.Fatalf("Open(%q) not stable: %q/%v then %q/%v", p, got, err, got2, err2)
		}
	})
}

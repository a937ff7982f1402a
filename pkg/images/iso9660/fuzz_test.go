package iso9660

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
)

// FuzzOpen feeds arbitrary images to the reader and walks whatever it finds: nothing may
// panic, hang or read outside the image.
func FuzzOpen(f *testing.F) {
	f.Add(isotest.Synth("A", []isotest.File{{Path: "x/y/z", Data: []byte("hello")}}, &isotest.Boot{BIOS: true, EFI: true}))
	f.Add(isotest.Synth("M", []isotest.File{{Path: "m", Data: seq(9000), ExtentMax: 2048, Gap: 1}}, nil))
	// Seeds from xorriso when present (Rock Ridge, Joliet): small trees, no padding.
	if _, err := os.Stat("/usr/bin/xorriso"); err == nil {
		dir := f.TempDir()
		isotest.Tree(f, filepath.Join(dir, "t"), map[string][]byte{"Long Name.txt": []byte("a"), "d/e/f": []byte("b")})
		for i, args := range [][]string{{"-R", "-J"}, {"--norock", "-J"}, {"-R"}} {
			out := filepath.Join(dir, "s"+string(rune('0'+i))+".iso")
			isotest.Xorriso(f, filepath.Join(dir, "t"), out, append(args, "-no-pad")...)
			if b, err := os.ReadFile(out); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		budget := 200
		var walk func(p string, depth int)
		walk = func(p string, depth int) {
			if depth > 10 || budget <= 0 {
				return
			}
			ents, err := img.ReadDir(p)
			if err != nil {
				return
			}
			for _, e := range ents {
				budget--
				if budget <= 0 {
					return
				}
				child := p + "/" + e.Name()
				if e.IsDir() {
					walk(child, depth+1)
					continue
				}
				if e.Size() < 1<<20 {
					io.Copy(io.Discard, e.Reader())
				}
				if off, n, ok := e.Extent(); ok && (off < 0 || n < 0 || off+n > int64(len(data))) {
					t.Fatalf("%s: extent %d+%d outside %d-byte image", child, off, n, len(data))
				}
			}
		}
		walk("", 0)
		img.BootCatalog()
		img.Hybrid()
	})
}

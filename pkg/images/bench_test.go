package images

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchDir builds 50 ISOs: copies of the distribution layouts of distroISOs.
func benchDir(b *testing.B) string {
	b.Helper()
	src := b.TempDir()
	distroISOs(b, src)
	isos, _ := filepath.Glob(filepath.Join(src, "*.iso"))
	if len(isos) == 0 {
		b.Skip("no ISOs built (xorriso missing)")
	}
	dir := b.TempDir()
	for i := range 50 {
		data, err := os.ReadFile(isos[i%len(isos)])
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(isos[i%len(isos)]))), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkCatalogScan50 reports the cold scan (every ISO probed), the warm rescan (stat
// only) and the heap the catalogue keeps for 50 ISOs.
func BenchmarkCatalogScan50(b *testing.B) {
	dir := benchDir(b)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			c := NewCatalog(dir, nil)
			if err := c.Rescan(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		c := NewCatalog(dir, nil)
		c.Rescan()
		for b.Loop() {
			c.Rescan()
		}
	})
	b.Run("retained", func(b *testing.B) {
		var kept []*Catalog
		for b.Loop() {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			c := NewCatalog(dir, nil)
			c.Rescan()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			kept = append(kept, c)
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc), "heap-bytes/catalog")
			if n := len(c.Entries()); n != 50 {
				b.Fatalf("%d entries", n)
			}
		}
		runtime.KeepAlive(kept)
	})
}

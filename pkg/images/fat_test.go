package images

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
)

func TestFATLoaders(t *testing.T) {
	for _, tc := range []struct{ kib, bits int }{{1440, 12}, {20000, 16}, {40000, 32}} {
		p := isotest.FATImage(t, filepath.Join(t.TempDir(), "efi.img"), tc.kib, tc.bits, "BOOTAA64.EFI", "BOOTX64.EFI", "grubx64.efi")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := openFAT(bytes.NewReader(b), int64(len(b)))
		if err != nil || f.bits != tc.bits {
			t.Fatalf("FAT%d: %v, detected FAT%d", tc.bits, err, f.bits)
		}
		names, err := fatLoaders(bytes.NewReader(b), int64(len(b)))
		slices.Sort(names)
		if err != nil || strings.Join(names, ",") != "BOOTAA64.EFI,BOOTX64.EFI,GRUBX64.EFI" {
			t.Errorf("FAT%d: %v %v", tc.bits, names, err)
		}
		// Truncated images fail or find less, never panic.
		for _, n := range []int{0, 100, 600, len(b) / 2} {
			fatLoaders(bytes.NewReader(b[:n]), int64(n))
		}
	}
}

// TestEFIArchFromBootImage: an ISO whose only UEFI evidence is the El Torito FAT image.
func TestEFIArchFromBootImage(t *testing.T) {
	dir := t.TempDir()
	buildISO(t, dir, "arm.iso", isoSpec{vol: "ARMTHING", efiImage: []string{"BOOTAA64.EFI"}, files: map[string][]byte{"x": []byte("x")}})
	c := NewCatalog(dir, nil)
	c.Rescan()
	e, _ := c.Lookup("arm.iso")
	if !e.Bootable || e.Method != MethodSanboot || !slices.Equal(e.Archs, []Arch{ArchARM64EFI}) {
		t.Errorf("entry %+v", e)
	}
}

func FuzzFATLoaders(f *testing.F) {
	if _, err := os.Stat("/usr/sbin/mkfs.vfat"); err == nil {
		p := isotest.FATImage(f, filepath.Join(f.TempDir(), "efi.img"), 64, 12, "BOOTX64.EFI")
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		fatLoaders(bytes.NewReader(b), int64(len(b)))
	})
}

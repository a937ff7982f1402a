package iso9660

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
)

// sampleTree is what the xorriso images hold: installer-like paths, long and mixed-case
// names, a deep directory (Rock Ridge relocation), an empty file, non-ASCII names.
func sampleTree() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+123)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"casper/vmlinuz":                            []byte("kernel bytes\x00\x01"),
		"casper/initrd":                             bytes.Repeat([]byte("initrd"), 5000),
		"install.amd/initrd.gz":                     []byte("gz"),
		"live/filesystem.squashfs":                  big,
		"Mixed Case Long File Name With Spaces.txt": []byte("mixed"),
		"grüße/straße.txt":                          []byte("unicode"),
		"deep/a/b/c/d/e/f/g/h/i/deepfile":           []byte("deep"),
		"empty":                                     nil,
		"EFI/BOOT/BOOTX64.EFI":                      []byte("MZ"),
		"isolinux/isolinux.cfg":                     []byte("default linux\n"),
	}
}

func openISO(t *testing.T, p string) *Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	img, err := Open(f, st.Size())
	if err != nil {
		t.Fatalf("Open %s: %v", p, err)
	}
	return img
}

// buildBootable builds an ISO with Rock Ridge, Joliet, El Torito BIOS (isolinux) and UEFI
// (a FAT efiboot image) entries and an isohybrid MBR, as distributions do.
func buildBootable(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	isotest.Tree(t, tree, files)
	isolinux, err := os.ReadFile(isotest.Isolinux)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("isolinux package missing: %v", err)
		}
		t.Skipf("isolinux package missing: %v", err)
	}
	isotest.Tree(t, tree, map[string][]byte{"isolinux/isolinux.bin": isolinux})
	isotest.EFIBootImage(t, filepath.Join(tree, "boot", "efiboot.img"), "BOOTX64.EFI")
	return isotest.Xorriso(t, tree, filepath.Join(dir, "boot.iso"),
		"-R", "-J", "-joliet-long", "-V", "TEST_BOOT 1",
		"-isohybrid-mbr", isotest.IsohdpfxMBR,
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "boot/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat")
}

func checkFiles(t *testing.T, img *Image, raw io.ReaderAt, files map[string][]byte) {
	t.Helper()
	for p, want := range files {
		f, err := img.Open(p)
		if err != nil {
			t.Errorf("Open(%q): %v", p, err)
			continue
		}
		if f.Size() != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", p, f.Size(), len(want))
		}
		got, err := io.ReadAll(f.Reader())
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: content differs (err %v, %d bytes)", p, err, len(got))
		}
		off, n, ok := f.Extent()
		if !ok {
			t.Errorf("%s: xorriso wrote it contiguously, Extent says fragmented", p)
			continue
		}
		sec := make([]byte, n)
		if _, err := raw.ReadAt(sec, off); err != nil && n > 0 {
			t.Errorf("%s: read extent: %v", p, err)
		} else if !bytes.Equal(sec, want) {
			t.Errorf("%s: bytes at Extent() differ from the file", p)
		}
		if f.ModTime().IsZero() {
			t.Errorf("%s: no modification time", p)
		}
	}
}

func TestXorrisoRockRidgeJolietElTorito(t *testing.T) {
	files := sampleTree()
	iso := buildBootable(t, files)
	img := openISO(t, iso)
	if !img.RockRidge() {
		t.Fatal("Rock Ridge not detected")
	}
	if img.VolumeID() != "TEST_BOOT 1" {
		t.Errorf("volume id %q", img.VolumeID())
	}
	raw, _ := os.Open(iso)
	defer raw.Close()
	checkFiles(t, img, raw, files)

	// Names come out exactly as written (Rock Ridge), listings match the tree.
	ents, err := img.ReadDir("grüße")
	if err != nil || len(ents) != 1 || ents[0].Name() != "straße.txt" {
		t.Errorf("ReadDir(grüße) = %v, %v", names(ents), err)
	}
	root, _ := img.ReadDir("/")
	if got := strings.Join(names(root), ","); !strings.Contains(got, "Mixed Case Long File Name With Spaces.txt") {
		t.Errorf("root listing %s", got)
	}
	// Case-insensitive fallback.
	if _, err := img.Open("CASPER/VMLINUZ"); err != nil {
		t.Errorf("case-insensitive lookup: %v", err)
	}
	if _, err := img.Open("casper/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := img.Open("casper"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(dir): %v", err)
	}

	cat, err := img.BootCatalog()
	if err != nil {
		t.Fatal(err)
	}
	bios, efi := cat.Platforms()
	if !bios || !efi {
		t.Errorf("platforms bios=%v efi=%v, entries %+v", bios, efi, cat.Entries)
	}
	if !img.Hybrid() {
		t.Error("isohybrid MBR not seen")
	}

	// The oracle: xorriso's own extraction gives the same bytes for every file.
	out := filepath.Join(t.TempDir(), "x")
	isotest.Extract(t, iso, out)
	n := 0
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := img.Open(filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("xorriso extracted %s, reader: %v", rel, err)
			return nil
		}
		got, _ := io.ReadAll(f.Reader())
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from xorriso's extraction", rel)
		}
		n++
		return nil
	})
	if err != nil || n < len(files) {
		t.Errorf("compared %d extracted files (walk err %v)", n, err)
	}
}

func TestXorrisoJolietOnly(t *testing.T) {
	files := sampleTree()
	delete(files, "deep/a/b/c/d/e/f/g/h/i/deepfile") // Joliet limits depth to 8
	dir := t.TempDir()
	isotest.Tree(t, filepath.Join(dir, "tree"), files)
	iso := isotest.Xorriso(t, filepath.Join(dir, "tree"), filepath.Join(dir, "j.iso"), "--norock", "-J", "-joliet-long", "-V", "JOLIET")
	img := openISO(t, iso)
	if img.RockRidge() || !img.Joliet() {
		t.Fatalf("rr=%v joliet=%v", img.RockRidge(), img.Joliet())
	}
	raw, _ := os.Open(iso)
	defer raw.Close()
	checkFiles(t, img, raw, files)
	if _, err := img.BootCatalog(); !errors.Is(err, ErrNoBootCatalog) {
		t.Errorf("BootCatalog without El Torito: %v", err)
	}
}

func TestXorrisoPlainNames(t *testing.T) {
	files := map[string][]byte{
		"casper/vmlinuz":      []byte("k"),
		"boot/initrd.img":     []byte("i"),
		"README":              []byte("readme"),
		"live/filesystem.sqf": bytes.Repeat([]byte{7}, 70000),
	}
	dir := t.TempDir()
	isotest.Tree(t, filepath.Join(dir, "tree"), files)
	iso := isotest.Xorriso(t, filepath.Join(dir, "tree"), filepath.Join(dir, "p.iso"), "--norock", "-iso-level", "3", "-V", "PLAIN")
	img := openISO(t, iso)
	if img.RockRidge() || img.Joliet() {
		t.Fatalf("rr=%v joliet=%v", img.RockRidge(), img.Joliet())
	}
	raw, _ := os.Open(iso)
	defer raw.Close()
	checkFiles(t, img, raw, files) // found through the case-insensitive fallback
	root, _ := img.ReadDir("")
	if got := strings.Join(names(root), ","); got != "BOOT,CASPER,LIVE,README" {
		t.Errorf("plain root listing %q", got)
	}
}

func names(fs []*File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name())
	}
	sort.Strings(out)
	return out
}

// TestXorrisoDeepRelocation: with deep paths off, xorriso moves directories deeper than
// eight levels to RR_MOVED and links them back with Rock Ridge CL/PL/RE entries. The reader
// must hide RR_MOVED's relocated entries and follow CL to the real place.
func TestXorrisoDeepRelocation(t *testing.T) {
	dir := t.TempDir()
	deep := "a/b/c/d/e/f/g/h/i/deepfile"
	isotest.Tree(t, filepath.Join(dir, "t"), map[string][]byte{deep: []byte("deep content"), "top": []byte("t")})
	iso := filepath.Join(dir, "deep.iso")
	isotest.XorrisoNative(t, "-compliance", "deep_paths_off", "-rr_reloc_dir", "RR_MOVED",
		"-outdev", iso, "-map", filepath.Join(dir, "t"), "/", "-commit")
	img := openISO(t, iso)
	if !img.RockRidge() {
		t.Fatal("no Rock Ridge")
	}
	// The plain tree really is relocated (else this test proves nothing).
	img.rockRidge = false
	plain, _ := img.ReadDir("")
	img.rockRidge = true
	if got := strings.Join(names(plain), ","); !strings.Contains(got, "RR_MOVED") {
		t.Fatalf("xorriso did not relocate: plain root %s", got)
	}
	root, _ := img.ReadDir("")
	if got := strings.Join(names(root), ","); got != "a,top" {
		t.Errorf("Rock Ridge root %q, want a,top", got)
	}
	f, err := img.Open(deep)
	if err != nil {
		t.Fatalf("Open(%s): %v", deep, err)
	}
	if b, _ := io.ReadAll(f.Reader()); string(b) != "deep content" {
		t.Errorf("deep file %q", b)
	}
	ents, err := img.ReadDir("a/b/c/d/e/f/g")
	if err != nil || strings.Join(names(ents), ",") != "h" || !ents[0].IsDir() {
		t.Errorf("ReadDir at the relocation point: %v %v", names(ents), err)
	}
}

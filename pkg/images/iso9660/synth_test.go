package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestMultiExtent(t *testing.T) {
	data := seq(5*2048 + 100)
	for _, tc := range []struct {
		name       string
		gap        int
		contiguous bool
	}{{"adjacent", 0, true}, {"fragmented", 2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := isotest.Synth("MULTI", []isotest.File{{Path: "big.bin", Data: data, ExtentMax: 4096, Gap: tc.gap}}, nil)
			img, err := Open(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := img.Open("big.bin")
			if err != nil {
				t.Fatal(err)
			}
			if f.Size() != int64(len(data)) {
				t.Fatalf("size %d", f.Size())
			}
			_, _, ok := f.Extent()
			if ok != tc.contiguous {
				t.Errorf("Extent ok=%v, extents %v", ok, f.Extents())
			}
			got, err := io.ReadAll(f.Reader())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("content differs: %v", err)
			}
			// Reads that straddle extent boundaries.
			for _, off := range []int64{0, 4095, 4096, 8190, int64(len(data)) - 3} {
				p := make([]byte, 5)
				n, err := f.ReadAt(p, off)
				want := data[off:min(off+5, int64(len(data)))]
				if !bytes.Equal(p[:n], want) || (n < 5 && err != io.EOF) {
					t.Errorf("ReadAt(%d) = %d %v", off, n, err)
				}
			}
		})
	}
}

func TestSynthBootCatalog(t *testing.T) {
	for _, b := range []isotest.Boot{{BIOS: true}, {EFI: true}, {BIOS: true, EFI: true}} {
		raw := isotest.Synth("BOOT", []isotest.File{{Path: "a", Data: []byte("x")}}, &b)
		img, err := Open(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		cat, err := img.BootCatalog()
		if err != nil {
			t.Fatal(err)
		}
		bios, efi := cat.Platforms()
		if bios != b.BIOS || efi != b.EFI {
			t.Errorf("%+v: got bios=%v efi=%v", b, bios, efi)
		}
	}
}

// TestHostile covers damaged images: each must fail with the right sentinel, never panic.
func TestHostile(t *testing.T) {
	good := isotest.Synth("GOOD", []isotest.File{{Path: "dir/file", Data: seq(3000)}}, &isotest.Boot{BIOS: true})
	img0, err := Open(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	f0, _ := img0.Open("dir/file")
	fileOff, _, _ := f0.Extent()
	rootRec := 16*2048 + 156
	rootLBA := int(binary.LittleEndian.Uint32(good[rootRec+2:]))

	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name    string
		img     []byte
		openErr error // from Open
		fileErr error // from Open("dir/file") + ReadAll, if Open succeeded
		bootErr error
	}{
		{"empty", nil, ErrNotISO, nil, nil},
		{"zeros", make([]byte, 40*2048), ErrNotISO, nil, nil},
		{"truncated in file data", good[:fileOff+100], nil, ErrCorrupt, nil},
		{"truncated before root", good[:rootLBA*2048], ErrCorrupt, nil, nil},
		{"block size 512", mut(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[16*2048+128:], 512); return b }), ErrUnsupported, nil, nil},
		{"root extent far away", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[rootRec+2:], 1<<30); return b }), ErrCorrupt, nil, nil},
		{"root size huge", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[rootRec+10:], 1<<31); return b }), ErrCorrupt, nil, nil},
		{"name overruns its record", mut(func(b []byte) []byte { b[rootLBA*2048+68+32] = 200; return b }), nil, ErrCorrupt, nil},
		{"record shorter than a header", mut(func(b []byte) []byte { b[rootLBA*2048+68] = 20; return b }), nil, ErrCorrupt, nil},
		{"boot catalogue checksum", mut(func(b []byte) []byte { b[19*2048+4] ^= 1; return b }), nil, nil, ErrCorrupt},
		{"boot catalogue outside", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[17*2048+71:], 1<<28); return b }), nil, nil, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Open(bytes.NewReader(tc.img), int64(len(tc.img)))
			if tc.openErr != nil {
				if !errors.Is(err, tc.openErr) {
					t.Fatalf("Open: %v, want %v", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tc.fileErr != nil {
				f, err := img.Open("dir/file")
				if err == nil {
					_, err = io.ReadAll(f.Reader())
				}
				if !errors.Is(err, tc.fileErr) {
					t.Errorf("file: %v, want %v", err, tc.fileErr)
				}
			}
			if tc.bootErr != nil {
				if _, err := img.BootCatalog(); !errors.Is(err, tc.bootErr) {
					t.Errorf("BootCatalog: %v, want %v", err, tc.bootErr)
				}
			}
		})
	}
}

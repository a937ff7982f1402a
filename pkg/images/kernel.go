package images

import (
	"bytes"
	"encoding/binary"
	"io"
)

// kernelArchs reads a kernel's header and says which platforms can boot it: an x86 bzImage
// ("HdrS") boots on BIOS and on the EFI platform of its word size; an arm64 Image (magic
// "ARM\x64") or a PE image for arm64 on arm64 UEFI. nil when the format is unknown
// (compressed images, other architectures).
func kernelArchs(r io.ReaderAt) []Arch {
	h := make([]byte, 1024)
	n, _ := r.ReadAt(h, 0)
	h = h[:n]
	if len(h) >= 0x238 && string(h[0x202:0x206]) == "HdrS" {
		// xloadflags bit 0 (XLF_KERNEL_64) exists from boot protocol 2.12.
		if binary.LittleEndian.Uint16(h[0x206:]) >= 0x020c && h[0x236]&1 != 0 {
			return []Arch{ArchBIOS, ArchX64EFI}
		}
		return []Arch{ArchBIOS, ArchIA32EFI}
	}
	if len(h) >= 0x3c && bytes.Equal(h[0x38:0x3c], []byte("ARM\x64")) {
		return []Arch{ArchARM64EFI}
	}
	if len(h) >= 0x40 && h[0] == 'M' && h[1] == 'Z' {
		pe := int(binary.LittleEndian.Uint32(h[0x3c:]))
		if pe > 0 && pe+6 <= len(h) && string(h[pe:pe+4]) == "PE\x00\x00" {
			switch binary.LittleEndian.Uint16(h[pe+4:]) {
			case 0xAA64:
				return []Arch{ArchARM64EFI}
			case 0x8664:
				return []Arch{ArchX64EFI}
			}
		}
	}
	return nil
}

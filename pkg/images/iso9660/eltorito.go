package iso9660

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// El Torito platform ids.
const (
	PlatformX86 byte = 0x00 // PC BIOS
	PlatformPPC byte = 0x01
	PlatformMac byte = 0x02
	PlatformEFI byte = 0xEF
)

// maxCatalogSectors bounds the boot catalogue read (64 entries per sector).
const maxCatalogSectors = 4

// BootEntry is one entry of the El Torito boot catalogue.
type BootEntry struct {
	Platform    byte // PlatformX86, PlatformEFI, …
	Bootable    bool // boot indicator 0x88
	Media       byte // 0 no emulation, 1-3 floppy, 4 hard disk
	LoadSegment uint16
	SectorCount uint16 // in 512-byte sectors
	LoadRBA     uint32 // first sector of the boot image
	Section     string // the section header's id string, trimmed
}

// BootCatalog is the parsed El Torito catalogue.
type BootCatalog struct {
	Entries []BootEntry
}

// Platforms reports which platforms have a bootable entry.
func (c *BootCatalog) Platforms() (bios, efi bool) {
	for _, e := range c.Entries {
		if !e.Bootable {
			continue
		}
		switch e.Platform {
		case PlatformX86:
			bios = true
		case PlatformEFI:
			efi = true
		}
	}
	return bios, efi
}

// BootCatalog parses the El Torito boot catalogue. It fails with ErrNoBootCatalog when the
// image has no boot record, with ErrCorrupt when the catalogue is damaged.
func (img *Image) BootCatalog() (*BootCatalog, error) {
	if img.bootLBA < 0 {
		return nil, ErrNoBootCatalog
	}
	off := img.bootLBA * SectorSize
	n := int64(maxCatalogSectors * SectorSize)
	if off >= img.size || off < 0 {
		return nil, fmt.Errorf("%w: boot catalogue at sector %d outside the image", ErrCorrupt, img.bootLBA)
	}
	n = min(n, img.size-off)
	buf := make([]byte, n-n%32)
	if len(buf) < 64 {
		return nil, fmt.Errorf("%w: boot catalogue truncated", ErrCorrupt)
	}
	if err := img.readFull(buf, off); err != nil {
		return nil, err
	}
	v := buf[:32]
	if v[0] != 1 || v[30] != 0x55 || v[31] != 0xAA {
		return nil, fmt.Errorf("%w: boot catalogue validation entry", ErrCorrupt)
	}
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	if sum != 0 {
		return nil, fmt.Errorf("%w: boot catalogue checksum", ErrCorrupt)
	}
	cat := &BootCatalog{}
	cat.Entries = append(cat.Entries, parseBootEntry(buf[32:64], v[1], ""))
	for p := 64; p+32 <= len(buf); {
		h := buf[p : p+32]
		if h[0] != 0x90 && h[0] != 0x91 {
			break // no more section headers
		}
		platform := h[1]
		count := int(binary.LittleEndian.Uint16(h[2:4]))
		id := strings.TrimRight(strings.TrimRight(string(h[4:32]), "\x00"), " ")
		p += 32
		for i := 0; i < count && p+32 <= len(buf); p += 32 {
			e := buf[p : p+32]
			if e[0] == 0x44 { // selection criteria extension of the previous entry
				continue
			}
			cat.Entries = append(cat.Entries, parseBootEntry(e, platform, id))
			i++
		}
		if h[0] == 0x91 {
			break
		}
	}
	return cat, nil
}

func parseBootEntry(e []byte, platform byte, section string) BootEntry {
	return BootEntry{
		Platform:    platform,
		Bootable:    e[0] == 0x88,
		Media:       e[1] & 0x0F,
		LoadSegment: binary.LittleEndian.Uint16(e[2:4]),
		SectorCount: binary.LittleEndian.Uint16(e[6:8]),
		LoadRBA:     binary.LittleEndian.Uint32(e[8:12]),
		Section:     section,
	}
}

// Hybrid reports whether the image starts with an MBR boot signature (isohybrid), so it can
// also boot as a disk.
func (img *Image) Hybrid() bool {
	b := make([]byte, 2)
	return img.readFull(b, 510) == nil && b[0] == 0x55 && b[1] == 0xAA
}

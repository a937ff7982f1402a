package iso9660

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"
)

// SectorSize is the logical block size this reader supports (the only one in practice).
const SectorSize = 2048

// Bounds on untrusted structure. They are far above what real images use and keep a hostile
// image from costing more than a few megabytes of reads per lookup.
const (
	maxDescriptors = 64      // volume descriptors scanned before giving up
	maxDirBytes    = 8 << 20 // one directory's extent
	maxDirEntries  = 1 << 16 // entries in one directory
	maxDepth       = 64      // path components in one lookup
	maxExtents     = 4096    // extents of one multi-extent file
	maxSUSPHops    = 16      // Rock Ridge continuation areas per record
)

// Image is an opened ISO 9660 image. It holds only the parsed descriptors; directories are
// read on demand, so an Image is small and cheap to keep. Safe for concurrent use if the
// underlying io.ReaderAt is.
type Image struct {
	r    io.ReaderAt
	size int64

	volumeID  string
	created   time.Time
	blocks    int64 // volume space size in sectors
	root      record
	joliet    bool
	rockRidge bool
	suspSkip  int
	bootLBA   int64 // El Torito catalogue sector; -1 when there is no boot record
}

// Open parses the volume descriptors of the image held by r, whose length is size.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	if size < 17*SectorSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrNotISO, size)
	}
	img := &Image{r: r, size: size, bootLBA: -1}
	var pvd, svd []byte
	buf := make([]byte, SectorSize)
	terminated := false
	for i := int64(0); i < maxDescriptors; i++ {
		off := (16 + i) * SectorSize
		if off+SectorSize > size {
			break
		}
		if err := img.readFull(buf, off); err != nil {
			return nil, err
		}
		if string(buf[1:6]) != "CD001" {
			if i == 0 {
				return nil, fmt.Errorf("%w: no CD001 signature at sector 16", ErrNotISO)
			}
			return nil, fmt.Errorf("%w: volume descriptor %d has no CD001 signature", ErrCorrupt, 16+i)
		}
		switch buf[0] {
		case 0: // boot record
			if strings.HasPrefix(string(buf[7:39]), "EL TORITO SPECIFICATION") {
				img.bootLBA = int64(binary.LittleEndian.Uint32(buf[71:75]))
			}
		case 1:
			if pvd == nil {
				pvd = bytes.Clone(buf)
			}
		case 2:
			esc := buf[88:120]
			if svd == nil && (bytes.Contains(esc, []byte("%/@")) || bytes.Contains(esc, []byte("%/C")) || bytes.Contains(esc, []byte("%/E"))) {
				svd = bytes.Clone(buf)
			}
		case 255:
			terminated = true
		}
		if terminated {
			break
		}
	}
	if pvd == nil {
		return nil, fmt.Errorf("%w: no primary volume descriptor", ErrNotISO)
	}
	if bs := binary.LittleEndian.Uint16(pvd[128:130]); bs != SectorSize {
		return nil, fmt.Errorf("%w: logical block size %d", ErrUnsupported, bs)
	}
	img.blocks = int64(binary.LittleEndian.Uint32(pvd[80:84]))
	img.volumeID = strings.TrimRight(string(bytes.TrimRight(pvd[40:72], "\x00")), " ")
	img.created = decDate(pvd[813:830])
	root, err := img.parseRecord(pvd[156:190], false)
	if err != nil {
		return nil, fmt.Errorf("primary root: %w", err)
	}
	if !root.dir {
		return nil, fmt.Errorf("%w: root is not a directory", ErrCorrupt)
	}
	img.root = root
	if skip, ok := img.detectSUSP(root); ok {
		img.rockRidge, img.suspSkip = true, skip
	}
	if !img.rockRidge && svd != nil {
		jroot, err := img.parseRecord(svd[156:190], true)
		if err == nil && jroot.dir {
			img.root, img.joliet = jroot, true
			if vid := decodeUCS2(bytes.TrimRight(svd[40:72], "\x00")); strings.TrimSpace(vid) != "" && img.volumeID == "" {
				img.volumeID = strings.TrimRight(vid, " ")
			}
		}
	}
	return img, nil
}

// VolumeID is the primary volume descriptor's volume identifier, trailing spaces removed.
func (img *Image) VolumeID() string { return img.volumeID }

// Size is the length of the image in bytes as given to Open.
func (img *Image) Size() int64 { return img.size }

// Created is the volume creation time (zero when unset).
func (img *Image) Created() time.Time { return img.created }

// RockRidge reports whether names come from Rock Ridge entries.
func (img *Image) RockRidge() bool { return img.rockRidge }

// Joliet reports whether names come from the Joliet tree.
func (img *Image) Joliet() bool { return img.joliet }

// Truncated reports whether the image is shorter than its volume space size says; files in
// the missing part fail to read with ErrCorrupt.
func (img *Image) Truncated() bool { return img.blocks*SectorSize > img.size }

// readFull reads len(p) bytes at off, or fails with ErrCorrupt when they lie outside the image.
func (img *Image) readFull(p []byte, off int64) error {
	if off < 0 || off > img.size || int64(len(p)) > img.size-off {
		return fmt.Errorf("%w: read of %d bytes at %d outside the image (%d bytes)", ErrCorrupt, len(p), off, img.size)
	}
	n, err := img.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: read at %d: %w", ErrCorrupt, off, err)
}

// decDate parses the 17-byte decimal date of a volume descriptor.
func decDate(b []byte) time.Time {
	var n [7]int
	widths := []int{4, 2, 2, 2, 2, 2, 2}
	p := 0
	for i, w := range widths {
		for _, c := range b[p : p+w] {
			if c < '0' || c > '9' {
				return time.Time{}
			}
			n[i] = n[i]*10 + int(c-'0')
		}
		p += w
	}
	if n[0] == 0 {
		return time.Time{}
	}
	loc := time.FixedZone("", int(int8(b[16]))*15*60)
	return time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*10e6, loc)
}

// recDate parses the 7-byte date of a directory record.
func recDate(b []byte) time.Time {
	if b[0] == 0 && b[1] == 0 && b[2] == 0 {
		return time.Time{}
	}
	loc := time.FixedZone("", int(int8(b[6]))*15*60)
	return time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, loc)
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

package images

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// The El Torito UEFI entry points at a FAT image; the firmware boots its
// \EFI\BOOT\BOOT<arch>.EFI. fatLoaders reads just enough FAT (12, 16 or 32) to list that
// directory, with every offset bounded by the image.

var errFAT = errors.New("images: not a readable FAT image")

// maxFATChain bounds a directory's cluster chain.
const maxFATChain = 1024

type fatFS struct {
	r        io.ReaderAt
	size     int64
	bps      int64 // bytes per sector
	spc      int64 // sectors per cluster
	fatOff   int64
	rootOff  int64 // FAT12/16 fixed root directory
	rootLen  int64
	rootClus uint32 // FAT32
	dataOff  int64
	bits     int // 12, 16, 32
	clusters uint32
}

func openFAT(r io.ReaderAt, size int64) (*fatFS, error) {
	b := make([]byte, 512)
	if size < 512 {
		return nil, errFAT
	}
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, errFAT
	}
	f := &fatFS{r: r, size: size}
	f.bps = int64(binary.LittleEndian.Uint16(b[11:]))
	f.spc = int64(b[13])
	reserved := int64(binary.LittleEndian.Uint16(b[14:]))
	nfats := int64(b[16])
	rootEnts := int64(binary.LittleEndian.Uint16(b[17:]))
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	fatSz := int64(binary.LittleEndian.Uint16(b[22:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	if fatSz == 0 {
		fatSz = int64(binary.LittleEndian.Uint32(b[36:]))
	}
	if f.bps < 512 || f.bps > 4096 || f.bps&(f.bps-1) != 0 || f.spc == 0 || f.spc&(f.spc-1) != 0 || nfats == 0 || fatSz == 0 || reserved == 0 {
		return nil, errFAT
	}
	rootSecs := (rootEnts*32 + f.bps - 1) / f.bps
	dataSec := reserved + nfats*fatSz + rootSecs
	if total <= dataSec {
		return nil, errFAT
	}
	f.clusters = uint32((total - dataSec) / f.spc)
	switch {
	case f.clusters < 4085:
		f.bits = 12
	case f.clusters < 65525:
		f.bits = 16
	default:
		f.bits = 32
		f.rootClus = binary.LittleEndian.Uint32(b[44:])
	}
	f.fatOff = reserved * f.bps
	f.rootOff = (reserved + nfats*fatSz) * f.bps
	f.rootLen = rootEnts * 32
	f.dataOff = dataSec * f.bps
	return f, nil
}

func (f *fatFS) read(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > f.size {
		return errFAT
	}
	_, err := f.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// next returns the cluster after c in its chain, and false at the end.
func (f *fatFS) next(c uint32) (uint32, bool) {
	var b [4]byte
	switch f.bits {
	case 12:
		off := f.fatOff + int64(c)*3/2
		if f.read(b[:2], off) != nil {
			return 0, false
		}
		v := uint32(binary.LittleEndian.Uint16(b[:]))
		if c&1 == 1 {
			v >>= 4
		} else {
			v &= 0xFFF
		}
		return v, v >= 2 && v < 0xFF8
	case 16:
		if f.read(b[:2], f.fatOff+int64(c)*2) != nil {
			return 0, false
		}
		v := uint32(binary.LittleEndian.Uint16(b[:]))
		return v, v >= 2 && v < 0xFFF8
	default:
		if f.read(b[:4], f.fatOff+int64(c)*4) != nil {
			return 0, false
		}
		v := binary.LittleEndian.Uint32(b[:]) & 0x0FFFFFFF
		return v, v >= 2 && v < 0x0FFFFFF8
	}
}

// dir reads a directory: the fixed root when clus is 0 (FAT12/16), else a cluster chain.
func (f *fatFS) dir(clus uint32) ([]byte, error) {
	if clus == 0 && f.bits != 32 {
		if f.rootLen > 1<<20 {
			return nil, errFAT
		}
		b := make([]byte, f.rootLen)
		return b, f.read(b, f.rootOff)
	}
	if clus == 0 {
		clus = f.rootClus
	}
	csize := f.bps * f.spc
	var out []byte
	for i := 0; clus >= 2 && clus < f.clusters+2; i++ {
		if i >= maxFATChain {
			return nil, errFAT
		}
		b := make([]byte, csize)
		if err := f.read(b, f.dataOff+int64(clus-2)*csize); err != nil {
			return nil, err
		}
		out = append(out, b...)
		var ok bool
		if clus, ok = f.next(clus); !ok {
			break
		}
	}
	return out, nil
}

type fatEntry struct {
	name string // 8.3 as NAME.EXT, upper case
	dir  bool
	clus uint32
}

func (f *fatFS) list(clus uint32) ([]fatEntry, error) {
	b, err := f.dir(clus)
	if err != nil {
		return nil, err
	}
	var out []fatEntry
	for p := 0; p+32 <= len(b); p += 32 {
		e := b[p : p+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 || e[11] == 0x0F || e[11]&0x08 != 0 {
			continue // deleted, long-name part, volume label
		}
		name := strings.TrimRight(string(e[0:8]), " ")
		if ext := strings.TrimRight(string(e[8:11]), " "); ext != "" {
			name += "." + ext
		}
		c := uint32(binary.LittleEndian.Uint16(e[26:]))
		if f.bits == 32 {
			c |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		out = append(out, fatEntry{name: strings.ToUpper(name), dir: e[11]&0x10 != 0, clus: c})
	}
	return out, nil
}

// fatLoaders lists the file names in \EFI\BOOT of a FAT image.
func fatLoaders(r io.ReaderAt, size int64) ([]string, error) {
	f, err := openFAT(r, size)
	if err != nil {
		return nil, err
	}
	clus := uint32(0)
	for _, want := range []string{"EFI", "BOOT"} {
		ents, err := f.list(clus)
		if err != nil {
			return nil, err
		}
		found := false
		for _, e := range ents {
			if e.dir && e.name == want && e.clus >= 2 {
				clus, found = e.clus, true
				break
			}
		}
		if !found {
			return nil, nil
		}
	}
	ents, err := f.list(clus)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.dir {
			names = append(names, e.name)
		}
	}
	return names, nil
}

package iso9660

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// extent is one contiguous run of a file's bytes in the image.
type extent struct{ off, len int64 }

// record is one directory record, with multi-extent parts merged.
type record struct {
	name      string
	dir       bool
	multi     bool // more extents follow in the next record (flag bit 7)
	self      bool // "." or ".."
	hidden    bool // Rock Ridge RE: a relocated directory shown elsewhere through CL
	symlink   bool
	childLink int64 // Rock Ridge CL target sector, -1 when absent
	mtime     time.Time
	size      int64
	extents   []extent
}

// parseRecord decodes the directory record at the start of b. joliet selects UCS-2 names.
// Rock Ridge entries are read when the image has them.
func (img *Image) parseRecord(b []byte, joliet bool) (record, error) {
	if len(b) < 34 || int(b[0]) < 34 || int(b[0]) > len(b) {
		return record{}, fmt.Errorf("%w: directory record length %d", ErrCorrupt, lenByte(b))
	}
	b = b[:b[0]]
	extAttr := int64(b[1])
	lba := int64(binary.LittleEndian.Uint32(b[2:6]))
	size := int64(binary.LittleEndian.Uint32(b[10:14]))
	flags := b[25]
	if b[26] != 0 || b[27] != 0 {
		return record{}, fmt.Errorf("%w: interleaved file", ErrUnsupported)
	}
	nameLen := int(b[32])
	if 33+nameLen > len(b) {
		return record{}, fmt.Errorf("%w: name of %d bytes overruns its record", ErrCorrupt, nameLen)
	}
	off := (lba + extAttr) * SectorSize
	if lba < 0 || off > img.size || size > img.size-off {
		return record{}, fmt.Errorf("%w: extent at sector %d (+%d bytes) outside the image", ErrCorrupt, lba, size)
	}
	rec := record{
		dir:       flags&0x02 != 0,
		multi:     flags&0x80 != 0,
		childLink: -1,
		mtime:     recDate(b[18:25]),
		size:      size,
		extents:   []extent{{off, size}},
	}
	raw := b[33 : 33+nameLen]
	switch {
	case nameLen == 1 && raw[0] == 0:
		rec.name, rec.self = ".", true
	case nameLen == 1 && raw[0] == 1:
		rec.name, rec.self = "..", true
	case joliet:
		rec.name = stripVersion(decodeUCS2(raw))
	default:
		rec.name = plainName(raw)
	}
	if img.rockRidge {
		su := 33 + nameLen
		if nameLen%2 == 0 {
			su++
		}
		su += img.suspSkip
		if su < len(b) {
			if err := img.readSUSP(&rec, b[su:]); err != nil {
				return record{}, err
			}
		}
	}
	return rec, nil
}

func lenByte(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return int(b[0])
}

// stripVersion removes the ";1" version suffix.
func stripVersion(s string) string {
	if i := strings.LastIndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s
}

// plainName turns an ISO 9660 file identifier into a name: version and a trailing dot
// (a file without extension) removed.
func plainName(raw []byte) string {
	s := stripVersion(string(raw))
	if len(s) > 1 && strings.HasSuffix(s, ".") {
		s = s[:len(s)-1]
	}
	return s
}

// readSUSP applies the Rock Ridge entries of one record's system use area, following
// continuation areas.
func (img *Image) readSUSP(rec *record, area []byte) error {
	var nm []byte
	nmSeen, nmDone := false, false
	for hop := 0; hop <= maxSUSPHops && len(area) > 0; hop++ {
		var next []byte
		for len(area) >= 4 {
			l := int(area[2])
			if l < 4 || l > len(area) {
				break
			}
			e := area[:l]
			area = area[l:]
			switch string(e[:2]) {
			case "ST":
				area = nil
			case "CE":
				if l < 28 {
					return fmt.Errorf("%w: short CE entry", ErrCorrupt)
				}
				blk := int64(binary.LittleEndian.Uint32(e[4:8]))
				off := int64(binary.LittleEndian.Uint32(e[12:16]))
				n := int64(binary.LittleEndian.Uint32(e[20:24]))
				if n > 64<<10 || off >= SectorSize*4 {
					return fmt.Errorf("%w: CE continuation of %d bytes", ErrCorrupt, n)
				}
				next = make([]byte, n)
				if err := img.readFull(next, blk*SectorSize+off); err != nil {
					return err
				}
			case "NM":
				if l < 5 || nmDone {
					break
				}
				flags := e[4]
				switch {
				case flags&0x02 != 0:
					nm, nmDone = []byte("."), true
				case flags&0x04 != 0:
					nm, nmDone = []byte(".."), true
				default:
					nm = append(nm, e[5:]...)
					nmDone = flags&0x01 == 0
				}
				nmSeen = true
			case "RE":
				rec.hidden = true
			case "CL":
				if l >= 12 {
					rec.childLink = int64(binary.LittleEndian.Uint32(e[4:8]))
				}
			case "SL":
				rec.symlink = true
			case "PX":
				if l >= 12 && binary.LittleEndian.Uint32(e[4:8])&0o170000 == 0o120000 {
					rec.symlink = true
				}
			}
		}
		area = next
	}
	if nmSeen && !rec.self && len(nm) > 0 && len(nm) <= 255 && !bytes.ContainsAny(nm, "/\x00") {
		rec.name = string(nm)
	}
	return nil
}

// detectSUSP looks for the SUSP "SP" entry in the root's "." record, which announces Rock
// Ridge and says how many bytes to skip in every system use area.
func (img *Image) detectSUSP(root record) (int, bool) {
	if len(root.extents) == 0 || root.size < 34 {
		return 0, false
	}
	buf := make([]byte, min(root.size, SectorSize))
	if err := img.readFull(buf, root.extents[0].off); err != nil {
		return 0, false
	}
	l := int(buf[0])
	if l < 34+7 || l > len(buf) || buf[32] != 1 || buf[33] != 0 {
		return 0, false
	}
	su := buf[34:l]
	if string(su[:2]) == "SP" && su[2] == 7 && su[4] == 0xBE && su[5] == 0xEF {
		return int(su[6]), true
	}
	return 0, false
}

// readDir returns the records of directory rec, "." and ".." and relocated directories left
// out, multi-extent parts merged into one record.
func (img *Image) readDir(rec record) ([]record, error) {
	if !rec.dir {
		return nil, fmt.Errorf("%w: %q is not a directory", ErrCorrupt, rec.name)
	}
	if rec.size > maxDirBytes {
		return nil, fmt.Errorf("%w: directory of %d bytes", ErrLimit, rec.size)
	}
	data := make([]byte, rec.size)
	if err := img.readFull(data, rec.extents[0].off); err != nil {
		return nil, err
	}
	var out []record
	for sec := 0; sec < len(data); sec += SectorSize {
		s := data[sec:min(sec+SectorSize, len(data))]
		for p := 0; p < len(s); {
			l := int(s[p])
			if l == 0 {
				break // the rest of the sector is padding
			}
			if p+l > len(s) {
				return nil, fmt.Errorf("%w: directory record crosses a sector boundary", ErrCorrupt)
			}
			r, err := img.parseRecord(s[p:p+l], img.joliet)
			if err != nil {
				return nil, err
			}
			p += l
			if r.self {
				continue
			}
			if n := len(out); n > 0 && out[n-1].multi && out[n-1].name == r.name {
				prev := &out[n-1]
				if len(prev.extents) >= maxExtents {
					return nil, fmt.Errorf("%w: more than %d extents", ErrLimit, maxExtents)
				}
				prev.extents = append(prev.extents, r.extents...)
				prev.size += r.size
				prev.multi = r.multi
				continue
			}
			if len(out) >= maxDirEntries {
				return nil, fmt.Errorf("%w: more than %d entries in a directory", ErrLimit, maxDirEntries)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// followChildLink resolves a Rock Ridge CL entry: the directory's real record is the "."
// of the sector it points at.
func (img *Image) followChildLink(rec record) (record, error) {
	buf := make([]byte, SectorSize)
	if err := img.readFull(buf, rec.childLink*SectorSize); err != nil {
		return record{}, err
	}
	dot, err := img.parseRecord(buf, img.joliet)
	if err != nil {
		return record{}, err
	}
	if !dot.dir {
		return record{}, fmt.Errorf("%w: CL target is not a directory", ErrCorrupt)
	}
	dot.name, dot.self, dot.childLink = rec.name, false, -1
	return dot, nil
}

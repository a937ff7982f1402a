// Package isotest builds ISO images for tests: with xorriso (the real tool, as an oracle) and
// with a tiny in-memory writer for shapes xorriso will not make cheaply (multi-extent files,
// broken structures, fuzz seeds).
package isotest

import (
	"encoding/binary"
	"path"
	"sort"
	"strings"
)

const sector = 2048

// File is one file of a synthetic image.
type File struct {
	Path string // slash-separated; directories are created as needed
	Data []byte
	// ExtentMax splits the file into multi-extent records of at most this many bytes (a
	// multiple of 2048); 0 keeps one extent.
	ExtentMax int
	// Gap leaves this many empty sectors between the extents, making the file fragmented.
	Gap int
}

// Boot describes an El Torito catalogue for a synthetic image.
type Boot struct {
	BIOS bool // a default entry for platform 0
	EFI  bool // a section for platform 0xEF
}

type dirNode struct {
	name  string
	dirs  map[string]*dirNode
	files []*File
	lba   int
	size  int
}

// Synth returns a minimal ISO 9660 image (plain names, no Rock Ridge or Joliet).
func Synth(volID string, files []File, boot *Boot) []byte {
	root := &dirNode{dirs: map[string]*dirNode{}}
	for i := range files {
		f := &files[i]
		dir, _ := path.Split(f.Path)
		n := root
		for _, el := range strings.Split(strings.Trim(dir, "/"), "/") {
			if el == "" {
				continue
			}
			if n.dirs[el] == nil {
				n.dirs[el] = &dirNode{name: el, dirs: map[string]*dirNode{}}
			}
			n = n.dirs[el]
		}
		n.files = append(n.files, f)
	}
	var order []*dirNode
	var walk func(*dirNode)
	walk = func(n *dirNode) {
		order = append(order, n)
		names := make([]string, 0, len(n.dirs))
		for k := range n.dirs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			walk(n.dirs[k])
		}
	}
	walk(root)
	next := 18 // 16 PVD, 17 terminator
	if boot != nil {
		next = 19 // 17 boot record, 18 terminator
	}
	catLBA := 0
	if boot != nil {
		catLBA = next
		next++
	}
	// Directory sizes depend only on names: one record per extent.
	fileExt := map[*File][][2]int{}
	for _, n := range order {
		size := 2 * 34
		for _, c := range sortedDirs(n) {
			size = addRec(size, len(c.name))
		}
		for _, f := range n.files {
			nparts := 1
			if f.ExtentMax > 0 && len(f.Data) > f.ExtentMax {
				nparts = (len(f.Data) + f.ExtentMax - 1) / f.ExtentMax
			}
			for range nparts {
				size = addRec(size, len(path.Base(f.Path))+2)
			}
		}
		n.size = (size + sector - 1) / sector * sector
		n.lba = next
		next += n.size / sector
	}
	for _, n := range order {
		for _, f := range n.files {
			var ext [][2]int
			rest := f.Data
			for first := true; first || len(rest) > 0; first = false {
				l := len(rest)
				if f.ExtentMax > 0 && l > f.ExtentMax {
					l = f.ExtentMax
				}
				ext = append(ext, [2]int{next, l})
				next += (l+sector-1)/sector + f.Gap
				rest = rest[l:]
			}
			fileExt[f] = ext
		}
	}
	img := make([]byte, next*sector)
	// Directory records.
	for i, n := range order {
		parent := n
		for _, m := range order[:i] {
			for _, c := range m.dirs {
				if c == n {
					parent = m
				}
			}
		}
		var recs [][]byte
		recs = append(recs, dirRec([]byte{0}, n.lba, n.size, 2), dirRec([]byte{1}, parent.lba, parent.size, 2))
		for _, c := range sortedDirs(n) {
			recs = append(recs, dirRec([]byte(strings.ToUpper(c.name)), c.lba, c.size, 2))
		}
		for _, f := range n.files {
			ext := fileExt[f]
			for j, e := range ext {
				flags := byte(0)
				if j < len(ext)-1 {
					flags = 0x80
				}
				recs = append(recs, dirRec([]byte(path.Base(f.Path)+";1"), e[0], e[1], flags))
			}
		}
		p := n.lba * sector
		end := p + n.size
		for _, r := range recs {
			if (p%sector)+len(r) > sector {
				p = (p/sector + 1) * sector
			}
			if p+len(r) > end {
				panic("isotest: directory overflow")
			}
			copy(img[p:], r)
			p += len(r)
		}
	}
	for f, ext := range fileExt {
		rest := f.Data
		for _, e := range ext {
			copy(img[e[0]*sector:], rest[:e[1]])
			rest = rest[e[1]:]
		}
	}
	// Volume descriptors.
	pvd := img[16*sector : 17*sector]
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	pvd[6] = 1
	copy(pvd[40:72], pad(volID, 32))
	binary.LittleEndian.PutUint32(pvd[80:], uint32(next))
	binary.BigEndian.PutUint32(pvd[84:], uint32(next))
	binary.LittleEndian.PutUint16(pvd[128:], sector)
	binary.BigEndian.PutUint16(pvd[130:], sector)
	copy(pvd[156:190], dirRec([]byte{0}, root.lba, root.size, 2))
	copy(pvd[813:], "2024010203040500")
	term := 17
	if boot != nil {
		br := img[17*sector : 18*sector]
		copy(br[1:], "CD001")
		br[6] = 1
		copy(br[7:], "EL TORITO SPECIFICATION")
		binary.LittleEndian.PutUint32(br[71:], uint32(catLBA))
		writeCatalog(img[catLBA*sector:(catLBA+1)*sector], boot)
		term = 18
	}
	t := img[term*sector:]
	t[0] = 255
	copy(t[1:], "CD001")
	t[6] = 1
	return img
}

func sortedDirs(n *dirNode) []*dirNode {
	var out []*dirNode
	for _, c := range n.dirs {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func recLen(nameLen int) int {
	l := 33 + nameLen
	if l%2 == 1 {
		l++
	}
	return l
}

// addRec returns the directory size after appending a record, records never crossing a
// sector boundary.
func addRec(size, nameLen int) int {
	l := recLen(nameLen)
	if size%sector+l > sector {
		size = (size/sector + 1) * sector
	}
	return size + l
}

func dirRec(name []byte, lba, size int, flags byte) []byte {
	r := make([]byte, recLen(len(name)))
	r[0] = byte(len(r))
	binary.LittleEndian.PutUint32(r[2:], uint32(lba))
	binary.BigEndian.PutUint32(r[6:], uint32(lba))
	binary.LittleEndian.PutUint32(r[10:], uint32(size))
	binary.BigEndian.PutUint32(r[14:], uint32(size))
	copy(r[18:25], []byte{124, 1, 2, 3, 4, 5, 0})
	r[25] = flags
	binary.LittleEndian.PutUint16(r[28:], 1)
	binary.BigEndian.PutUint16(r[30:], 1)
	r[32] = byte(len(name))
	copy(r[33:], name)
	return r
}

func pad(s string, n int) string {
	for len(s) < n {
		s += " "
	}
	return s[:n]
}

func writeCatalog(c []byte, b *Boot) {
	v := c[:32]
	v[0] = 1
	v[30], v[31] = 0x55, 0xAA
	if !b.BIOS {
		v[1] = 0xEF
	}
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	binary.LittleEndian.PutUint16(v[28:], -sum)
	def := c[32:64]
	if b.BIOS || b.EFI {
		def[0] = 0x88
	}
	binary.LittleEndian.PutUint16(def[6:], 4)
	if b.BIOS && b.EFI {
		h := c[64:96]
		h[0] = 0x91
		h[1] = 0xEF
		binary.LittleEndian.PutUint16(h[2:], 1)
		e := c[96:128]
		e[0] = 0x88
		binary.LittleEndian.PutUint16(e[6:], 1)
	}
}

package images

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/images/iso9660"
)

// MemdiskMax is the largest ISO offered through memdisk, which copies the whole image into
// the client's RAM below 4 GiB.
const MemdiskMax = 128 << 20

// probeISO fills e from the ISO at full.
func probeISO(e *Entry, full string) {
	f, err := os.Open(full)
	if err != nil {
		e.Reason = "unreadable: " + errText(err)
		return
	}
	defer f.Close()
	img, err := iso9660.Open(f, e.Size)
	if err != nil {
		e.Reason = errText(err)
		return
	}
	e.VolumeID = img.VolumeID()
	e.Label = e.VolumeID
	if img.Truncated() {
		e.Reason = fmt.Sprintf("truncated ISO: %d bytes, the volume descriptor says more", e.Size)
		return
	}
	var bios, efi bool
	cat, catErr := img.BootCatalog()
	if catErr == nil {
		bios, efi = cat.Platforms()
	}
	var efiArchs []Arch
	if efi {
		efiArchs = efiImageArchs(f, e.Size, cat)
	}
	if len(efiArchs) == 0 {
		efiArchs = efiArchsOf(img)
	}
	if efi && len(efiArchs) == 0 {
		efiArchs = []Arch{ArchX64EFI} // an EFI entry whose loader we cannot see: the common case
	}

	ia := isoAccess{img: img, dirs: map[string][]*iso9660.File{}}
	for i := range Recipes {
		r := &Recipes[i]
		kernel, initrds, ok := ia.match(r)
		if !ok {
			continue
		}
		e.Recipe, e.Label = r.Name, r.Label+" ("+e.VolumeID+")"
		e.Method, e.Kernel, e.Initrds, e.Args = MethodKernel, kernel, initrds, r.Args
		if kf, err := img.Open(kernel); err == nil {
			e.Archs = kernelArchs(kf)
		}
		if e.Archs == nil {
			e.Archs = bootArchs(bios, efiArchs)
		}
		if len(e.Archs) == 0 {
			e.Reason = "unknown kernel format and no boot catalogue"
			return
		}
		e.Memdisk = bios && e.Size < MemdiskMax
		e.Bootable = true
		return
	}
	if catErr != nil {
		if errors.Is(catErr, iso9660.ErrNoBootCatalog) {
			e.Reason = "unknown layout and no El Torito boot catalogue"
		} else {
			e.Reason = "boot catalogue: " + errText(catErr)
		}
		return
	}
	e.Archs = bootArchs(bios, efiArchs)
	if len(e.Archs) == 0 {
		e.Reason = "boot catalogue has no BIOS or UEFI entry"
		return
	}
	e.Memdisk = bios && e.Size < MemdiskMax
	if e.Memdisk && !efi {
		e.Method = MethodMemdisk
	} else {
		e.Method = MethodSanboot
	}
	e.Bootable = true
}

func bootArchs(bios bool, efi []Arch) []Arch {
	var out []Arch
	if bios {
		out = append(out, ArchBIOS)
	}
	return append(out, efi...)
}

// efiImageArchs reads the loaders in \EFI\BOOT of the FAT images the catalogue's UEFI
// entries point at: what the firmware boots from a CD.
func efiImageArchs(r io.ReaderAt, isoSize int64, cat *iso9660.BootCatalog) []Arch {
	var names []string
	for _, be := range cat.Entries {
		if !be.Bootable || be.Platform != iso9660.PlatformEFI {
			continue
		}
		off := int64(be.LoadRBA) * iso9660.SectorSize
		if off <= 0 || off >= isoSize {
			continue
		}
		// The entry's sector count is often 0 or 1 for images above 32 MiB: the FAT's own
		// size, bounded by the ISO's end, is what counts.
		n, err := fatLoaders(io.NewSectionReader(r, off, isoSize-off), isoSize-off)
		if err == nil {
			names = append(names, n...)
		}
	}
	return loaderArchs(names)
}

// efiArchsOf reads the removable-media loaders in /EFI/BOOT of the ISO tree.
func efiArchsOf(img *iso9660.Image) []Arch {
	ents, err := img.ReadDir("EFI/BOOT")
	if err != nil {
		return nil
	}
	var names []string
	for _, f := range ents {
		names = append(names, f.Name())
	}
	return loaderArchs(names)
}

// loaderArchs maps removable-media loader names to platforms.
func loaderArchs(names []string) []Arch {
	var out []Arch
	for _, n := range names {
		var a Arch
		switch strings.ToUpper(n) {
		case "BOOTX64.EFI":
			a = ArchX64EFI
		case "BOOTIA32.EFI":
			a = ArchIA32EFI
		case "BOOTAA64.EFI":
			a = ArchARM64EFI
		}
		if a != ArchUnknown && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// isoAccess resolves recipe paths in one ISO, reading each directory once.
type isoAccess struct {
	img  *iso9660.Image
	dirs map[string][]*iso9660.File
}

func (a *isoAccess) readDir(dir string) []*iso9660.File {
	key := strings.ToLower(dir)
	if ents, ok := a.dirs[key]; ok {
		return ents
	}
	ents, _ := a.img.ReadDir(dir)
	a.dirs[key] = ents
	return ents
}

// resolve finds pattern (case-insensitive, glob in the last element) and returns the real
// path, first match in name order.
func (a *isoAccess) resolve(pattern string) (string, bool) {
	dir, base := path.Split(pattern)
	dir = strings.TrimSuffix(dir, "/")
	var names []string
	for _, f := range a.readDir(dir) {
		if ok, _ := path.Match(strings.ToLower(base), strings.ToLower(f.Name())); ok {
			names = append(names, f.Name())
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	if dir == "" {
		return names[0], true
	}
	return realDir(a.img, dir) + "/" + names[0], true
}

// realDir returns dir spelled as in the image (the lookups are case-insensitive, but URLs
// and menus should show the real names).
func realDir(img *iso9660.Image, dir string) string {
	parts := strings.Split(dir, "/")
	cur := ""
	for _, p := range parts {
		ents, err := img.ReadDir(cur)
		if err != nil {
			return dir
		}
		name := p
		for _, e := range ents {
			if e.Name() == p {
				name = p
				break
			}
			if strings.EqualFold(e.Name(), p) {
				name = e.Name()
			}
		}
		cur = path.Join(cur, name)
	}
	return cur
}

func (a *isoAccess) match(r *Recipe) (kernel string, initrds []string, ok bool) {
	if len(r.Volume) > 0 {
		vid := strings.ToLower(a.img.VolumeID())
		hit := false
		for _, g := range r.Volume {
			if m, _ := path.Match(strings.ToLower(g), vid); m {
				hit = true
				break
			}
		}
		if !hit {
			return "", nil, false
		}
	}
	for _, f := range r.Files {
		if _, ok := a.resolve(f); !ok {
			return "", nil, false
		}
	}
	kernel, ok = a.resolve(r.Kernel)
	if !ok {
		return "", nil, false
	}
	for _, ip := range r.Initrds {
		optional := strings.HasPrefix(ip, "?")
		p, found := a.resolve(strings.TrimPrefix(ip, "?"))
		if !found {
			if optional {
				continue
			}
			return "", nil, false
		}
		initrds = append(initrds, p)
	}
	return kernel, initrds, true
}

// Names a kernel + initrd directory may use (Debian netboot: linux, initrd.gz).
var (
	kernelNames = []string{"linux", "vmlinuz*", "bzImage", "Image", "kernel"}
	initrdNames = []string{"initrd*", "initramfs*"}
)

// maxDirProbe bounds the entries looked at while searching an entry directory.
const maxDirProbe = 512

// probeDir fills e from a directory entry: the first directory (itself, then its
// subdirectories, three levels deep) holding a kernel and an initrd.
func probeDir(e *Entry, full string) {
	rel, err := findKernelDir(full, "", 0, new(int))
	if err != nil {
		e.Reason = "unreadable: " + errText(err)
		return
	}
	if rel == nil {
		e.Reason = "no kernel and initrd found (looked for linux, vmlinuz*, bzImage, Image; initrd*, initramfs*)"
		return
	}
	dir := filepath.Join(full, filepath.FromSlash(rel[0]))
	e.Kernel = path.Join(rel[0], rel[1])
	e.Initrds = []string{path.Join(rel[0], rel[2])}
	// Debian's netboot initrd is initrd.gz beside linux; a second initrd* name is rare
	// enough that the first one found is used.
	kf, err := os.Open(filepath.Join(dir, rel[1]))
	if err != nil {
		e.Reason = "unreadable kernel: " + errText(err)
		return
	}
	e.Archs = kernelArchs(kf)
	kf.Close()
	if e.Archs == nil {
		e.Reason = "unknown kernel format (not an x86 bzImage or arm64 Image)"
		return
	}
	if b, err := os.ReadFile(filepath.Join(full, "cmdline")); err == nil {
		e.Args = strings.Join(strings.Fields(string(b)), " ")
	}
	e.Label = e.Name
	e.Method = MethodKernel
	e.Bootable = true
}

// findKernelDir returns [dir, kernel, initrd] relative to root, or nil.
func findKernelDir(root, rel string, depth int, seen *int) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	*seen += len(ents)
	dirPath := filepath.Join(root, filepath.FromSlash(rel))
	// Symlinks are followed: a directory entry may link to a packaged tree (Debian's
	// netboot images) or a USB stick.
	kind := func(d os.DirEntry) fs.FileMode {
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(dirPath, d.Name())); err == nil {
				return st.Mode().Type()
			}
		}
		return d.Type()
	}
	var kernel, initrd string
	for _, d := range ents {
		if !kind(d).IsRegular() {
			continue
		}
		if kernel == "" && matchAny(kernelNames, d.Name()) {
			kernel = d.Name()
		}
		if initrd == "" && matchAny(initrdNames, d.Name()) {
			initrd = d.Name()
		}
	}
	if kernel != "" && initrd != "" {
		if rel == "" {
			rel = "."
		}
		return []string{rel, kernel, initrd}, nil
	}
	if depth >= 3 || *seen > maxDirProbe {
		return nil, nil
	}
	for _, d := range ents {
		if kind(d).IsDir() && !strings.HasPrefix(d.Name(), ".") {
			r, err := findKernelDir(root, path.Join(rel, d.Name()), depth+1, seen)
			if err == nil && r != nil {
				return r, nil
			}
		}
	}
	return nil, nil
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// errText shortens an error for the catalogue: the path is already the entry's name.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

package images

import (
	"slices"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/boot"
)

// Kind is what an entry of the images directory is.
type Kind string

// Entry kinds.
const (
	KindISO     Kind = "iso"     // an ISO 9660 image
	KindDir     Kind = "dir"     // a directory holding a kernel and initrd(s)
	KindScript  Kind = "script"  // an iPXE script
	KindUnknown Kind = "unknown" // anything else (listed, never bootable)
)

// Method is how a client boots an entry.
type Method string

// Boot methods.
const (
	MethodNone    Method = ""
	MethodKernel  Method = "kernel"  // kernel + initrd(s), from the ISO or the directory
	MethodMemdisk Method = "memdisk" // syslinux memdisk loads the whole ISO into RAM (BIOS)
	MethodSanboot Method = "sanboot" // iPXE sanboot of the ISO over HTTP
	MethodScript  Method = "script"  // iPXE chain to the script
)

// Arch is a firmware platform an entry can boot on, named like iPXE's ${platform} and
// ${buildarch}.
type Arch string

// Architectures.
const (
	ArchBIOS     Arch = "pcbios"
	ArchX64EFI   Arch = "x86_64-efi"
	ArchIA32EFI  Arch = "i386-efi"
	ArchARM64EFI Arch = "arm64-efi"
	ArchUnknown  Arch = ""
)

// ArchOf maps a DHCP option 93 architecture to the platform the client's firmware boots.
// U-Boot and Raspberry Pi clients map to ArchUnknown: no catalogue entry targets them.
func ArchOf(optArch uint16) Arch {
	switch optArch {
	case boot.ArchBIOS, boot.ArchBIOSHTTP:
		return ArchBIOS
	case boot.ArchX64UEFI, boot.ArchEBC, boot.ArchX64UEFIHTTP:
		return ArchX64EFI
	case boot.ArchIA32UEFI, boot.ArchIA32UEFIHTTP:
		return ArchIA32EFI
	case boot.ArchARM64UEFI, boot.ArchARM64UEFIHTTP:
		return ArchARM64EFI
	}
	return ArchUnknown
}

// EFI reports whether a is a UEFI platform.
func (a Arch) EFI() bool { return a == ArchX64EFI || a == ArchIA32EFI || a == ArchARM64EFI }

// Entry is the catalogue's summary of one item of the images directory.
type Entry struct {
	Name    string    `json:"name"` // the file or directory name; the URL segment under /images/
	Kind    Kind      `json:"kind"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Label is a human title: the recipe's distribution and the volume id when known.
	Label  string `json:"label"`
	Recipe string `json:"recipe,omitempty"`
	// VolumeID is the ISO's volume identifier.
	VolumeID string `json:"volume_id,omitempty"`
	Method   Method `json:"method"`
	// Archs lists the platforms the entry boots on; empty for scripts (any platform).
	Archs []Arch `json:"archs"`
	// Kernel and Initrds are paths inside the entry (ISO or directory), slash-separated.
	Kernel  string   `json:"kernel,omitempty"`
	Initrds []string `json:"initrds,omitempty"`
	// Args is the kernel command line template: {base} is the entry's HTTP URL with a
	// trailing slash, {iso} the URL of the ISO file itself.
	Args string `json:"args,omitempty"`
	// Memdisk reports that a BIOS client without iPXE can boot the ISO through memdisk.
	Memdisk  bool   `json:"memdisk,omitempty"`
	Bootable bool   `json:"bootable"`
	Reason   string `json:"reason,omitempty"` // why the entry is not bootable
}

// BootsOn reports whether the entry boots on platform a.
func (e *Entry) BootsOn(a Arch) bool {
	if !e.Bootable {
		return false
	}
	if e.Kind == KindScript {
		return true
	}
	return slices.Contains(e.Archs, a)
}

package images

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/pxe-edge/pxe-edge/pkg/images/internal/isotest"
)

// debianNetboot is where debian-installer-12-netboot-amd64 installs the installer's
// netboot kernel and initrd.
const debianNetboot = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"

// fakeBzImage is the start of an x86-64 bzImage: enough header for kernelArchs.
func fakeBzImage() []byte {
	b := make([]byte, 4096)
	b[0], b[1] = 'M', 'Z'
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	b[0x236] = 1
	return b
}

// fakeArm64Image is the start of an arm64 Image.
func fakeArm64Image() []byte {
	b := make([]byte, 4096)
	copy(b[0x38:], "ARM\x64")
	return b
}

type isoSpec struct {
	vol   string
	files map[string][]byte
	bios  bool // isolinux El Torito entry + isohybrid MBR
	efi   bool // FAT efiboot.img El Torito entry and EFI/BOOT/BOOTX64.EFI
	// efiImage, when set, is the loaders of the FAT image instead, and the ISO tree gets no
	// EFI directory (the image is then the only source of the architecture).
	efiImage []string
}

// buildISO makes an ISO with xorriso (Rock Ridge + Joliet) as dir/name.
func buildISO(t testing.TB, dir, name string, s isoSpec) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	isotest.Tree(t, tree, s.files)
	args := []string{"-R", "-J", "-joliet-long", "-V", s.vol}
	if s.bios {
		isolinux, err := os.ReadFile(isotest.Isolinux)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("isolinux package missing: %v", err)
			}
			t.Skipf("isolinux package missing: %v", err)
		}
		isotest.Tree(t, tree, map[string][]byte{"isolinux/isolinux.bin": isolinux})
		args = append(args, "-isohybrid-mbr", isotest.IsohdpfxMBR, "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
			"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table")
	}
	if s.efi || s.efiImage != nil {
		if s.efiImage != nil {
			isotest.EFIBootImage(t, filepath.Join(tree, "boot", "efiboot.img"), s.efiImage...)
		} else {
			isotest.EFIBootImage(t, filepath.Join(tree, "boot", "efiboot.img"), "BOOTX64.EFI")
			isotest.Tree(t, tree, map[string][]byte{"EFI/BOOT/BOOTX64.EFI": []byte("MZ")})
		}
		if s.bios {
			args = append(args, "-eltorito-alt-boot")
		}
		args = append(args, "-e", "boot/efiboot.img", "-no-emul-boot")
	}
	return isotest.Xorriso(t, tree, filepath.Join(dir, name), args...)
}

package images

// Recipe recognises one distribution's ISO layout and says how to boot it. Recipes are data:
// adding a distribution is a new row, not new code.
type Recipe struct {
	Name  string // stable id, shown in the catalogue
	Label string // human name for menus
	// Volume lists case-insensitive globs for the volume id; one must match. Empty: any.
	Volume []string
	// Files must all exist in the ISO (case-insensitive; `*` and `?` allowed in the last
	// path element).
	Files []string
	// Kernel is the kernel's path (a glob takes the first match in name order).
	Kernel string
	// Initrds are loaded in order; a leading "?" marks an optional one (microcode).
	Initrds []string
	// Args is the kernel command line template: {base} is the HTTP URL of the ISO's
	// contents (…/images/<iso>/), {iso} the URL of the ISO file itself.
	Args string
}

// Recipes is the known-distribution table, tried in order; the first match wins, so more
// specific rows come first.
var Recipes = []Recipe{
	{
		Name: "debian-live", Label: "Debian live",
		Files:   []string{"live/filesystem.squashfs", "live/vmlinuz*"},
		Kernel:  "live/vmlinuz*",
		Initrds: []string{"live/initrd.img*"},
		Args:    "boot=live components fetch={base}live/filesystem.squashfs",
	},
	{
		Name: "debian-installer-amd64", Label: "Debian installer",
		Volume:  []string{"debian *"},
		Files:   []string{"install.amd/vmlinuz", "install.amd/initrd.gz"},
		Kernel:  "install.amd/vmlinuz",
		Initrds: []string{"install.amd/initrd.gz"},
		Args:    "",
	},
	{
		Name: "debian-installer-arm64", Label: "Debian installer",
		Volume:  []string{"debian *"},
		Files:   []string{"install.a64/vmlinuz", "install.a64/initrd.gz"},
		Kernel:  "install.a64/vmlinuz",
		Initrds: []string{"install.a64/initrd.gz"},
		Args:    "",
	},
	{
		Name: "ubuntu-casper", Label: "Ubuntu live",
		Files:   []string{"casper/vmlinuz", "casper/initrd"},
		Kernel:  "casper/vmlinuz",
		Initrds: []string{"casper/initrd"},
		Args:    "ip=dhcp url={iso} cloud-config-url=/dev/null",
	},
	{
		Name: "alpine-lts", Label: "Alpine Linux",
		Volume:  []string{"alpine*"},
		Files:   []string{"boot/vmlinuz-lts", "boot/initramfs-lts", "boot/modloop-lts"},
		Kernel:  "boot/vmlinuz-lts",
		Initrds: []string{"boot/initramfs-lts"},
		Args:    "ip=dhcp modloop={base}boot/modloop-lts alpine_repo={base}apks",
	},
	{
		Name: "alpine-virt", Label: "Alpine Linux (virt)",
		Volume:  []string{"alpine*"},
		Files:   []string{"boot/vmlinuz-virt", "boot/initramfs-virt", "boot/modloop-virt"},
		Kernel:  "boot/vmlinuz-virt",
		Initrds: []string{"boot/initramfs-virt"},
		Args:    "ip=dhcp modloop={base}boot/modloop-virt alpine_repo={base}apks",
	},
	{
		Name: "fedora-family-repo", Label: "Fedora-family installer (DVD repository)",
		Files:   []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "BaseOS/repodata"},
		Kernel:  "images/pxeboot/vmlinuz",
		Initrds: []string{"images/pxeboot/initrd.img"},
		Args:    "ip=dhcp inst.repo={base}",
	},
	{
		Name: "fedora-repo", Label: "Fedora installer (DVD repository)",
		Files:   []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "repodata"},
		Kernel:  "images/pxeboot/vmlinuz",
		Initrds: []string{"images/pxeboot/initrd.img"},
		Args:    "ip=dhcp inst.repo={base}",
	},
	{
		Name: "fedora-netinst", Label: "Fedora-family installer",
		Files:   []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"},
		Kernel:  "images/pxeboot/vmlinuz",
		Initrds: []string{"images/pxeboot/initrd.img"},
		Args:    "ip=dhcp inst.stage2={base}",
	},
	{
		Name: "fedora-live", Label: "Fedora-family live",
		Files:   []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "LiveOS/squashfs.img"},
		Kernel:  "images/pxeboot/vmlinuz",
		Initrds: []string{"images/pxeboot/initrd.img"},
		Args:    "ip=dhcp root=live:{base}LiveOS/squashfs.img rd.live.image",
	},
	{
		Name: "arch", Label: "Arch Linux",
		Volume:  []string{"arch_*"},
		Files:   []string{"arch/boot/x86_64/vmlinuz-linux", "arch/boot/x86_64/initramfs-linux.img"},
		Kernel:  "arch/boot/x86_64/vmlinuz-linux",
		Initrds: []string{"?arch/boot/intel-ucode.img", "?arch/boot/amd-ucode.img", "arch/boot/x86_64/initramfs-linux.img"},
		Args:    "archisobasedir=arch archiso_http_srv={base} ip=dhcp",
	},
}

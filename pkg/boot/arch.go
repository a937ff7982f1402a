package boot

// Client system architecture values of option 93 (IANA "Processor Architecture Types").
const (
	ArchBIOS          uint16 = 0  // x86 BIOS
	ArchIA32UEFI      uint16 = 6  // x86 UEFI
	ArchX64UEFI       uint16 = 7  // x64 UEFI
	ArchEBC           uint16 = 9  // EFI byte code; sent by old x64 firmware (erratum), treated as 7
	ArchARM32UEFI     uint16 = 10 // ARM 32-bit UEFI
	ArchARM64UEFI     uint16 = 11 // ARM 64-bit UEFI
	ArchIA32UEFIHTTP  uint16 = 15 // x86 UEFI HTTP boot
	ArchX64UEFIHTTP   uint16 = 16 // x64 UEFI HTTP boot
	ArchARM32UEFIHTTP uint16 = 18 // ARM 32-bit UEFI HTTP boot
	ArchARM64UEFIHTTP uint16 = 19 // ARM 64-bit UEFI HTTP boot
	ArchBIOSHTTP      uint16 = 20 // x86 BIOS HTTP boot
	ArchARM32UBoot    uint16 = 21 // ARM 32-bit U-Boot
	ArchARM64UBoot    uint16 = 22 // ARM 64-bit U-Boot
	ArchARM32UBootH   uint16 = 23 // ARM 32-bit U-Boot HTTP
	ArchARM64UBootH   uint16 = 24 // ARM 64-bit U-Boot HTTP
	ArchRV32UEFI      uint16 = 25 // RISC-V 32-bit UEFI
	ArchRV32UEFIHTTP  uint16 = 26 // RISC-V 32-bit UEFI HTTP boot
	ArchRV64UEFI      uint16 = 27 // RISC-V 64-bit UEFI
	ArchRV64UEFIHTTP  uint16 = 28 // RISC-V 64-bit UEFI HTTP boot
	ArchRPiBoot       uint16 = 41 // ARM rpiboot (Raspberry Pi)
)

// Default iPXE binary names in the netboot directory, per platform. scripts/netboot.sh
// puts them there from Debian packages.
const (
	FileUndionly  = "undionly.kpxe"    // iPXE for BIOS PXE (uses the ROM's UNDI driver)
	FilePXELinux  = "pxelinux.0"       // PXELINUX for BIOS PXE without iPXE
	FileIPXEx64   = "ipxe.efi"         // iPXE x86_64 EFI
	FileIPXEia32  = "ipxe-i386.efi"    // iPXE i386 EFI
	FileIPXEarm64 = "ipxe-arm64.efi"   // iPXE arm64 EFI (Debian's name)
	FileIPXEarm32 = "ipxe-arm32.efi"   // iPXE arm32 EFI
	FileIPXErv32  = "ipxe-riscv32.efi" // iPXE riscv32 EFI
	FileIPXErv64  = "ipxe-riscv64.efi" // iPXE riscv64 EFI
	FileScript    = "boot.ipxe"        // the iPXE script iPXE clients get
	FileUBoot     = "pxelinux.0"       // what U-Boot's `dhcp` autoloads; pxelinux.cfg/ sits beside it
)

// Signed first-stage loaders for Secure Boot machines (shim-signed), beside the signed GRUB
// network images they load (grubx64.efi, grubaa64.efi: shim looks in its own directory).
const (
	FileShimX64  = "shimx64.efi"  // Microsoft-signed shim, x86_64
	FileShimAA64 = "shimaa64.efi" // Microsoft-signed shim, arm64
)

// Boot chains (Decision.Chain): what the client's firmware starts.
const (
	ChainIPXE = "ipxe" // an iPXE binary or, for iPXE itself, its script
	ChainShim = "shim" // shim → signed GRUB → grub/grub.cfg (Secure Boot)
)

// shimFile returns the signed shim for a UEFI architecture, "" when none exists.
func shimFile(buildArch string) string {
	switch buildArch {
	case "x86_64":
		return FileShimX64
	case "arm64":
		return FileShimAA64
	}
	return ""
}

// family groups architectures that get the same treatment.
type family uint8

const (
	famUnknown family = iota
	famBIOS           // PXE BIOS firmware
	famUEFI           // UEFI PXE firmware
	famHTTP           // firmware HTTP boot (UEFI or BIOS)
	famUBoot          // U-Boot
	famRPi            // Raspberry Pi rpiboot
)

// archInfo is one row of the architecture table.
type archInfo struct {
	fam       family
	kind      string // ClientKind label
	platform  string // iPXE ${platform}: pcbios, efi; "u-boot", "rpi" for the others
	buildArch string // iPXE ${buildarch}: i386, x86_64, arm32, arm64, riscv32, riscv64
	file      string // default firmware boot file (iPXE binary); "" = chosen elsewhere
}

// archTable returns the row for arch; ok is false for architectures the policy does not
// know (they boot only with a per-architecture override).
func archTable(arch uint16) (archInfo, bool) {
	switch arch {
	case ArchBIOS:
		return archInfo{famBIOS, KindBIOS, "pcbios", "i386", ""}, true
	case ArchIA32UEFI:
		return archInfo{famUEFI, KindUEFIIA32, "efi", "i386", FileIPXEia32}, true
	case ArchX64UEFI, ArchEBC:
		return archInfo{famUEFI, KindUEFIX64, "efi", "x86_64", FileIPXEx64}, true
	case ArchARM32UEFI:
		return archInfo{famUEFI, KindUEFIARM32, "efi", "arm32", FileIPXEarm32}, true
	case ArchARM64UEFI:
		return archInfo{famUEFI, KindUEFIARM64, "efi", "arm64", FileIPXEarm64}, true
	case ArchRV32UEFI:
		return archInfo{famUEFI, KindUEFIRV32, "efi", "riscv32", FileIPXErv32}, true
	case ArchRV64UEFI:
		return archInfo{famUEFI, KindUEFIRV64, "efi", "riscv64", FileIPXErv64}, true
	case ArchIA32UEFIHTTP:
		return archInfo{famHTTP, KindUEFIIA32HTTP, "efi", "i386", FileIPXEia32}, true
	case ArchX64UEFIHTTP:
		return archInfo{famHTTP, KindUEFIX64HTTP, "efi", "x86_64", FileIPXEx64}, true
	case ArchARM32UEFIHTTP:
		return archInfo{famHTTP, KindUEFIARM32HTTP, "efi", "arm32", FileIPXEarm32}, true
	case ArchARM64UEFIHTTP:
		return archInfo{famHTTP, KindUEFIARM64HTTP, "efi", "arm64", FileIPXEarm64}, true
	case ArchRV32UEFIHTTP:
		return archInfo{famHTTP, KindUEFIRV32HTTP, "efi", "riscv32", FileIPXErv32}, true
	case ArchRV64UEFIHTTP:
		return archInfo{famHTTP, KindUEFIRV64HTTP, "efi", "riscv64", FileIPXErv64}, true
	case ArchBIOSHTTP:
		return archInfo{famHTTP, KindBIOSHTTP, "pcbios", "i386", FileUndionly}, true
	case ArchARM32UBoot, ArchARM32UBootH:
		return archInfo{famUBoot, KindUBootARM32, "u-boot", "arm32", ""}, true
	case ArchARM64UBoot, ArchARM64UBootH:
		return archInfo{famUBoot, KindUBootARM64, "u-boot", "arm64", ""}, true
	case ArchRPiBoot:
		return archInfo{famRPi, KindRPi, "rpi", "arm64", ""}, true
	}
	return archInfo{}, false
}

// Client kind labels (Decision.Kind), for logs, events and the dashboard.
const (
	KindBIOS          = "bios"
	KindUEFIIA32      = "uefi-ia32"
	KindUEFIX64       = "uefi-x64"
	KindUEFIARM32     = "uefi-arm32"
	KindUEFIARM64     = "uefi-arm64"
	KindUEFIRV32      = "uefi-riscv32"
	KindUEFIRV64      = "uefi-riscv64"
	KindUEFIIA32HTTP  = "uefi-ia32-http"
	KindUEFIX64HTTP   = "uefi-x64-http"
	KindUEFIARM32HTTP = "uefi-arm32-http"
	KindUEFIARM64HTTP = "uefi-arm64-http"
	KindUEFIRV32HTTP  = "uefi-riscv32-http"
	KindUEFIRV64HTTP  = "uefi-riscv64-http"
	KindBIOSHTTP      = "bios-http"
	KindUBoot         = "u-boot" // recognised by vendor class only
	KindUBootARM32    = "u-boot-arm32"
	KindUBootARM64    = "u-boot-arm64"
	KindIPXE          = "ipxe" // iPXE on BIOS; on other platforms "ipxe-" + the platform's kind
	KindRPi           = "rpi"  // a Raspberry Pi whose model the request does not tell
	KindRPi3          = "rpi3" // Pi 2/3 boot ROM (MAC B8:27:EB)
	KindRPi4          = "rpi4" // option 97 "RPi4"
	KindRPi5          = "rpi5" // option 97 "RPi5"
	KindDHCP          = "dhcp" // a plain DHCP client: no PXE/HTTP vendor class, no architecture
	KindUnknown       = "unknown"
)

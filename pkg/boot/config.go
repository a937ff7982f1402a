package boot

import "net/netip"

// Config is the part of the server's settings the policy reads. The daemon builds it once
// (per reservation for ROM) from internal/config; Decide never modifies it.
type Config struct {
	// ServerIP is the boot server: siaddr, option 66 and the host of tftp:// URLs
	// (PyPXE's DHCP_FILESERVER).
	ServerIP netip.Addr
	// TFTP says the TFTP server runs. Without it, clients that can only fetch over TFTP get
	// no boot information.
	TFTP bool
	// HTTP says the HTTP server runs; HTTPHost:HTTPPort is where. HTTPHost zero = ServerIP;
	// HTTPPort 0 = 80 (and 80 is left out of URLs).
	HTTP     bool
	HTTPHost netip.Addr
	HTTPPort uint16
	// IPXE is PyPXE's USE_IPXE: BIOS PXE firmware gets undionly.kpxe instead of the netboot
	// file, and iPXE clients get the script. UEFI firmware gets iPXE EFI either way (there is
	// no other EFI loader in netboot/), and iPXE itself never gets an iPXE binary.
	IPXE bool
	// NetbootFile is PyPXE's NETBOOT_FILE. "" = auto: with IPXE the script iPXE clients get
	// is boot.ipxe (fetched straight over HTTP when HTTP is on, which makes PyPXE's
	// boot.http.ipxe TFTP-to-HTTP hop unnecessary); without IPXE BIOS firmware gets
	// pxelinux.0. A value set explicitly is that script (IPXE on) or the BIOS boot file
	// (IPXE off). A value containing "://" is used as a URL unchanged.
	NetbootFile string
	// ArchFiles overrides the firmware boot file per option 93 architecture, e.g.
	// {7: "snponly.efi", 11: "arm64/snp.efi"}. For HTTP boot architectures the value is a
	// path (made into a URL) or a full URL. It also makes an unknown architecture bootable.
	ArchFiles map[uint16]string
	// ROM is the per-MAC override from the client's reservation (PyPXE static config
	// "rom"), filled in by the daemon for this client; "" = none. It replaces the firmware
	// boot file; a ROM ending in ".ipxe" is instead the script this MAC's iPXE gets (its
	// firmware still gets the iPXE binary first).
	ROM string
	// HTTPBootPath is the path (or full URL) UEFI HTTP boot clients get; "" = the iPXE EFI
	// binary for their architecture. ROM and ArchFiles take precedence.
	HTTPBootPath string
	// SecureBoot says this client is a Secure Boot machine (--secure-boot, or the
	// reservation's or profile's setting, filled in by the daemon): its UEFI firmware gets the
	// signed shim for its architecture over PXE and HTTP boot, and iPXE-UEFI gets it too, never
	// an iPXE binary or script. ROM, ArchFiles and HTTPBootPath are not consulted for it
	// (they name unsigned loaders); an architecture without a signed shim gets no boot file.
	// BIOS, U-Boot and Pi clients are unaffected: Secure Boot is a UEFI feature.
	SecureBoot bool
	// Pi holds the Raspberry Pi settings.
	Pi PiConfig
	// UBoot holds the U-Boot settings.
	UBoot UBootConfig
}

// PiMenu selects the text of the "Raspberry Pi Boot" menu item in option 43.
type PiMenu uint8

// Menu text variants.
const (
	// PiMenuAuto: the three-trailing-space text for the Pi 2/3 boot ROM family (MAC
	// B8:27:EB, no Pi 4/5 option 97), the plain text for the others.
	PiMenuAuto PiMenu = iota
	// PiMenuPlain: "Raspberry Pi Boot" (the Pi docs' sample; Pi 3B+, 4, 5).
	PiMenuPlain
	// PiMenuThreeSpaces: "Raspberry Pi Boot   " (pre-3B+ boot ROMs need it).
	PiMenuThreeSpaces
)

// PiConfig is the Raspberry Pi part of Config.
type PiConfig struct {
	// Disabled turns Raspberry Pi recognition off: Pis are then treated as BIOS PXE clients
	// (they send arch 0), which they cannot boot from.
	Disabled bool
	// Menu selects the option 43 menu text.
	Menu PiMenu
	// TFTPPrefix is the prefix the Pis' bootloaders are configured with (EEPROM TFTP_PREFIX):
	// "" = the serial number (the default, TFTP_PREFIX=0), "mac" = the MAC as
	// dc-a6-32-01-36-c2 (TFTP_PREFIX=2), anything else a fixed string (TFTP_PREFIX=1). It only
	// fills Decision.PiTFTPPrefix for logs and the dashboard; the Pi chooses its prefix.
	TFTPPrefix string
}

// UBootConfig is the U-Boot part of Config.
type UBootConfig struct {
	// File is the boot file U-Boot gets; "" = pxelinux.0, the anchor of the pxelinux.cfg/
	// directory U-Boot's `pxe get` searches beside it. ROM and ArchFiles take precedence.
	File string
	// ConfigFile is option 209 (PXELINUX configuration file, RFC 5071), e.g.
	// "pxelinux.cfg/default"; "" = not sent, and U-Boot searches pxelinux.cfg/ itself.
	ConfigFile string
}

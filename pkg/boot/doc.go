// Package boot is pxe-edge's boot policy: from the facts of one DHCP request (architecture,
// vendor and user class, option 175, MAC, option 97, mode, port) and the server's settings it
// decides the boot part of the reply — siaddr, file/option 67, options 43, 60, 66, 97, 209 —
// and a label for logs and the dashboard.
//
// The package is pure: no sockets, no files, no clock, no stored state. The same request
// always gets the same decision, which is what makes iPXE chainloading loop-free across
// restarts: iPXE is recognised from its own packet (user class "iPXE" or option 175) and
// gets a script URL, never another iPXE binary.
//
// The rules follow docs/DESIGN.md and the PXE field guide (shared/pxe-field-guide.md):
//
//   - BIOS PXE firmware (arch 0): undionly.kpxe with iPXE on, else the netboot file
//     (pxelinux.0); option 43 with discovery control 8 on port 67.
//   - UEFI PXE firmware (arch 6, 7, 9, 10, 11, 25, 27): the iPXE EFI binary for its
//     architecture, never option 43; in proxy mode the client is served on port 4011; in
//     full mode the offer carries no option 60 either, so EDK2 boots the file at once
//     instead of asking port 4011 first (a "BINL" offer in PxeBcDhcp4.c).
//   - UEFI HTTP boot (vendor class "HTTPClient", arch 15, 16, 18, 19, 26, 28): a full http://
//     URL and option 60 "HTTPClient".
//   - iPXE itself: the script URL (http:// with HTTP on, else tftp://).
//   - Raspberry Pi bootloaders: option 43 "Raspberry Pi Boot" menu, option 66 as a dotted IP,
//     siaddr, and the lease committed at OFFER.
//   - U-Boot (arch 21–24 or vendor class "U-Boot."): siaddr always, option 209 if configured.
//   - Secure Boot machines (Config.SecureBoot): x86_64 and arm64 UEFI, over PXE, HTTP boot
//     and from iPXE-UEFI, get the signed shim (shimx64.efi, shimaa64.efi), which loads the
//     signed GRUB beside it; never an iPXE binary or script. Other UEFI architectures get
//     nothing. Decision.Chain says "shim" or "ipxe".
//   - In proxy mode only PXE and HTTP clients (vendor class "PXEClient…"/"HTTPClient…") get
//     an answer.
package boot

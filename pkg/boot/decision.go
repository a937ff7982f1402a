package boot

import "net/netip"

// Decision is the boot part of the reply to one request.
type Decision struct {
	// Boot says the reply carries boot information. In proxy mode a request with Boot false
	// gets no reply at all; in full mode the client still gets an address, without the boot
	// fields. Reason says why Boot is false.
	Boot   bool
	Reason string

	// Kind is a label for logs and the dashboard: "bios", "uefi-x64", "uefi-arm64-http",
	// "ipxe", "ipxe-uefi-x64", "rpi4", "u-boot-arm64", … (the Kind* constants).
	Kind string
	// Arch is the architecture the decision was made for (Facts.ClientArch); ArchKnown is
	// false when the request told none.
	Arch      uint16
	ArchKnown bool
	// Platform and BuildArch are iPXE's ${platform} ("pcbios", "efi"; "u-boot", "rpi") and
	// ${buildarch} ("i386", "x86_64", "arm64", …) for templates and the dashboard; "" when
	// unknown.
	Platform  string
	BuildArch string

	// SIAddr is the next server (the BOOTP siaddr field); invalid = leave 0.
	SIAddr netip.Addr
	// File goes into the BOOTP file field and option 67: a path relative to the netboot
	// directory, or a tftp:// or http:// URL. "" = none.
	File string
	// Opt66 is option 66 (TFTP server name) as a dotted IP; "" = omit.
	Opt66 string
	// Opt60 is the option 60 echo: "PXEClient", "HTTPClient" or "" (omit).
	Opt60 string
	// Opt97 is the option 97 echo (aliases Facts.Opt97); nil = omit.
	Opt97 []byte
	// Opt43 is option 43, already encoded (PXE sub-options ending with 255); nil = omit.
	// The slice is shared: callers must not modify it.
	Opt43 []byte
	// Opt209 is option 209 (PXELINUX configuration file); "" = omit.
	Opt209 string

	// CommitAtOffer asks the DHCP server to commit the lease when it sends the OFFER: the
	// Pi 3 boot ROM boots from the OFFER and never sends a REQUEST. Full mode only.
	CommitAtOffer bool
	// Use4011 says the client will fetch its boot file from the port-4011 service: a UEFI
	// PXE client answered by a port-67 proxy offer (which then carries siaddr and file but
	// no option 43, as EDK2 requires). Proxy mode, port 67 only.
	Use4011 bool

	// IsPi says the client is a Raspberry Pi bootloader; PiTFTPPrefix is the directory its
	// TFTP requests will be prefixed with when the request tells it (option 97 serial,
	// MAC), "" otherwise.
	IsPi         bool
	PiTFTPPrefix string
	// IsIPXE says the client is iPXE itself.
	IsIPXE bool
	// Chain is the boot chain the reply starts, for logs and the dashboard: ChainShim for a
	// Secure Boot client, ChainIPXE when the file is an iPXE binary or script, "" otherwise.
	Chain string
}

// Package bootfs wraps a tftp.FileSource with the lookups network-boot clients expect from
// a boot server's file tree:
//
//   - Per-client roots, like dnsmasq's tftp-unique-root: a client whose directory exists in
//     the root — 01-<mac> (01-52-54-00-12-34-56, PXELINUX's form, MAC learned from the
//     daemon's lease table) or its IPv4 address (10.70.0.23) — gets files from there first.
//     Unlike dnsmasq, a file missing there comes from the plain root (an overlay), so a
//     client directory holds only what differs for that machine. A client cannot read
//     another client's directory.
//   - Raspberry Pi TFTP prefixes: a Pi asks for <serial>/start4.elf (serial = 8 hex digits,
//     or its MAC as dc-a6-32-01-36-c2, or a configured fixed string) and drops the prefix
//     when that is not found. When the prefix directory exists, files in it win and the rest
//     come from the root (so the Pi keeps its prefix and can have its own config.txt);
//     when it does not, the request is "not found", which is exactly the fallback the Pi
//     expects.
//
// U-Boot's and PXELINUX's pxelinux.cfg/ search (01-<mac>, hex IP shortened digit by digit,
// default) needs nothing here: they ask for each name in turn and the files in netboot/
// answer (see netboot/pxelinux.cfg/default).
//
// The package opens no sockets. It reads directory existence through an os.Root on the
// same directory the wrapped source serves.
package bootfs

package images

import (
	"net/url"
	"path"
	"strings"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// Client is what the menu builders need to know about the machine asking.
type Client struct {
	Arch Arch   // the firmware platform (ArchOf of DHCP option 93)
	MAC  string // aa:bb:cc:dd:ee:ff; goes into the boot-once marker
	// ServerURL is pxe-edge's HTTP base, e.g. "http://10.0.0.1:8080", without a trailing
	// slash. Kernel arguments' {base}/{iso} and iPXE/GRUB URLs are built on it.
	ServerURL string
	// Memdisk is the path of syslinux's memdisk below the server root (HTTP for iPXE, TFTP
	// for pxelinux); "memdisk" when empty.
	Memdisk string
	// GRUBDevice is the GRUB device kernels are read from, e.g. "(http,10.0.0.1:8080)" for
	// a GRUB built with the http module. Empty: GRUB's $root, the TFTP server it was loaded
	// from (Debian's grubnetaa64.efi has no http module).
	GRUBDevice string
	// SecureBoot says the client boots the signed chain (shim → signed GRUB; the boot
	// policy's Decision.Chain "shim"): its GRUB menu keeps the kernel entries (GRUB has shim
	// verify each kernel), and shows the entries that need an unsigned loader (iPXE
	// scripts, sanboot, memdisk) with a message that they cannot boot under Secure Boot.
	SecureBoot bool
}

func (c *Client) memdisk() string {
	if c.Memdisk == "" {
		return "memdisk"
	}
	return strings.TrimPrefix(c.Memdisk, "/")
}

// escapePath escapes each element of a slash-separated path for a URL, and '$' as well so
// neither iPXE nor GRUB expands it.
func escapePath(p string) string {
	els := strings.Split(p, "/")
	for i, el := range els {
		els[i] = strings.ReplaceAll(url.PathEscape(el), "$", "%24")
	}
	return strings.Join(els, "/")
}

// entryURL is the HTTP URL of the entry itself (the ISO or script file).
func entryURL(c *Client, e *Entry) string {
	return c.ServerURL + "/images/" + escapePath(e.Name)
}

// fileURL is the HTTP URL of a file inside the entry.
func fileURL(c *Client, e *Entry, p string) string { return entryURL(c, e) + "/" + escapePath(p) }

// kernelArgs expands the entry's template and appends the profile's arguments.
func kernelArgs(c *Client, e *Entry, d *profiles.Decision) string {
	args := strings.NewReplacer("{base}", entryURL(c, e)+"/", "{iso}", entryURL(c, e)).Replace(e.Args)
	return strings.TrimSpace(args + " " + d.Args)
}

// label is an entry's menu text: its name, what it is, and how it boots.
func label(e *Entry) string {
	s := e.Name
	if e.Label != "" && e.Label != e.Name {
		s += " - " + e.Label
	}
	return menuText(s + " [" + string(e.Method) + "]")
}

// menuText keeps text printable and free of the characters menus interpret.
func menuText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r == '$' || r == '\'' || r == '"' || r == '\\' || r == ';':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// menuEntries are the catalogue entries a client can boot, in catalogue order, with their
// menu ids (e0, e1, … by catalogue position, so an id stays stable while the list is
// filtered).
type menuEntry struct {
	id string
	e  *Entry
}

func filter(entries []Entry, ok func(*Entry) bool) []menuEntry {
	var out []menuEntry
	for i := range entries {
		if ok(&entries[i]) {
			out = append(out, menuEntry{id: "e" + itoa(i), e: &entries[i]})
		}
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for ; i > 0; i /= 10 {
		p--
		b[p] = byte('0' + i%10)
	}
	return string(b[p:])
}

// defaultID picks the menu id of d.Default among ms, or "local".
func defaultID(ms []menuEntry, d *profiles.Decision) (string, *Entry) {
	for _, m := range ms {
		if m.e.Name == d.Default {
			return m.id, m.e
		}
	}
	return "local", nil
}

// onceMarker returns the boot-once query for e's first URL, or "".
func onceMarker(c *Client, e *Entry, d *profiles.Decision) string {
	if !d.BootOnce || e.Name != d.Default || c.MAC == "" {
		return ""
	}
	mac := strings.Map(func(r rune) rune {
		if r == ':' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F') {
			return r
		}
		return -1
	}, c.MAC)
	return "?" + BootOnceMarker + "=" + mac
}

// MenuDefault reports which entry a menu built for c and d boots when its timeout ends:
// ok is false when that is the local disk (the profile's default is not bootable on c).
// The daemon uses it to consume a boot-once setting when it hands out a pxelinux or GRUB
// menu, which cannot mark the kernel's URL.
func MenuDefault(entries []Entry, c Client, d profiles.Decision, kind string) (string, bool) {
	var ms []menuEntry
	switch kind {
	case "pxelinux":
		ms = filter(entries, pxelinuxOK)
	case "grub":
		ms = filter(entries, func(e *Entry) bool { return grubOK(e, c.Arch) })
	default:
		ms = filter(entries, func(e *Entry) bool { return e.BootsOn(c.Arch) })
	}
	_, e := defaultID(ms, &d)
	if e == nil {
		return "", false
	}
	return e.Name, true
}

func basename(p string) string { return path.Base(p) }

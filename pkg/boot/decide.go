package boot

import (
	"path"
	"strconv"
	"strings"
)

// Decide returns the boot part of the reply to the request described by f. It is pure and
// deterministic; see the package documentation for the rules.
func Decide(f Facts, c Config) Decision {
	var d Decision
	vc := classifyVendorClass(f.VendorClass)
	arch, archKnown := f.ClientArch()
	d.Arch, d.ArchKnown = arch, archKnown
	d.IsIPXE = f.IsIPXE()
	info, inTable := archInfo{}, false
	if archKnown {
		info, inTable = archTable(arch)
	}
	port := f.Port
	if port == 0 {
		port = PortDHCP
	}

	// Classify first so that even an ignored request has a label for the logs.
	var pi piMatch
	var r route
	switch {
	case d.IsIPXE:
		r = routeIPXE
		d.Kind, d.Platform, d.BuildArch = KindIPXE, "pcbios", "i386"
		if inTable && info.fam != famBIOS {
			d.Kind, d.Platform, d.BuildArch = KindIPXE+"-"+info.kind, info.platform, info.buildArch
		} else if archKnown && !inTable {
			d.Kind, d.Platform, d.BuildArch = KindIPXE+"-arch-"+strconv.Itoa(int(arch)), "", ""
		}
	case vc == vcHTTP || (inTable && info.fam == famHTTP):
		r = routeHTTP
		d.Kind, d.Platform, d.BuildArch = KindUEFIX64HTTP, "efi", "x86_64"
		if inTable {
			d.Kind, d.Platform, d.BuildArch = info.kind, info.platform, info.buildArch
		}
		if inTable && info.fam != famHTTP {
			d.Kind += "-http"
		}
	case vc == vcUBoot || (inTable && info.fam == famUBoot):
		r = routeUBoot
		d.Kind, d.Platform = KindUBoot, "u-boot"
		if inTable && info.fam == famUBoot {
			d.Kind, d.BuildArch = info.kind, info.buildArch
		}
	default:
		if !c.Pi.Disabled {
			pi = recognisePi(&f, arch, archKnown, vc)
		}
		switch {
		case pi.recognise:
			r = routePi
			d.Kind, d.Platform, d.BuildArch, d.IsPi = pi.kind, "rpi", "arm64", true
			if pi.kind == KindRPi3 {
				d.BuildArch = "arm32"
			}
		case inTable:
			d.Kind, d.Platform, d.BuildArch = info.kind, info.platform, info.buildArch
		case archKnown:
			d.Kind = KindUnknown + "-arch-" + strconv.Itoa(int(arch))
		case vc == vcPXE:
			// A PXE client that names no architecture is a BIOS PXE ROM (PXE 2.0).
			d.Kind, d.Platform, d.BuildArch = KindBIOS, "pcbios", "i386"
		default:
			d.Kind = KindDHCP
		}
	}

	if f.Mode == Proxy && vc != vcPXE && vc != vcHTTP {
		return d.none("proxy mode answers only PXE and HTTP clients")
	}
	if !c.ServerIP.Is4() || c.ServerIP.IsUnspecified() {
		return d.none("no boot server address configured")
	}

	if c.SecureBoot && d.Platform == "efi" && (r == routeIPXE || r == routeHTTP || r == routeFirmware) {
		return decideShim(d, &f, &c, r, vc, port)
	}
	d = decideRoute(d, &f, &c, r, &pi, vc, port, arch, archKnown, info, inTable)
	if d.Boot && (d.IsIPXE || IsIPXEBinary(d.File)) {
		d.Chain = ChainIPXE
	}
	return d
}

// decideRoute answers a client that is not served the Secure Boot chain.
func decideRoute(d Decision, f *Facts, c *Config, r route, pi *piMatch, vc vendorClassKind, port uint16, arch uint16, archKnown bool, info archInfo, inTable bool) Decision {
	switch r {
	case routeIPXE:
		return decideIPXE(d, f, c, info, inTable)
	case routeHTTP:
		return decideHTTP(d, f, c, info, inTable)
	case routeUBoot:
		return decideUBoot(d, f, c)
	case routePi:
		return decidePi(d, f, c, pi)
	}

	// PXE firmware (or a plain DHCP client in full mode).
	file := firmwareFile(c, f, arch, archKnown, info, inTable)
	if file == "" {
		return d.none("no boot file for architecture " + strconv.Itoa(int(arch)))
	}
	uefi := archKnown && (!inTable || info.fam == famUEFI)
	return firmwareReply(d, f, c, file, uefi, vc, port)
}

// firmwareReply fills the reply to PXE firmware (or a plain DHCP client) given its file.
func firmwareReply(d Decision, f *Facts, c *Config, file string, uefi bool, vc vendorClassKind, port uint16) Decision {
	d.Boot = true
	d.SIAddr = c.ServerIP
	d.Opt97 = opt97(f)
	// EDK2 (PxeBcDhcp4.c) takes a full-DHCP offer with option 60 "PXEClient" but no option
	// 43 for a BINL offer and asks port 4011 for the boot file before it boots; without
	// option 60 the same offer is "DHCP only with a boot file" and boots at once. So UEFI
	// gets option 60 only from the proxy (where it is required) and on 4011.
	if vc == vcPXE && !(uefi && f.Mode == Full && port == PortDHCP) {
		d.Opt60 = "PXEClient"
	}
	d.File, d.Opt66 = fileOrURL(c, file)
	if d.File == "" {
		return d.none("TFTP is off and " + file + " is not a URL")
	}
	switch {
	case uefi:
		// EDK2 discards many offers carrying option 43 and, given none, asks on 4011.
		d.Use4011 = f.Mode == Proxy && port == PortDHCP && vc == vcPXE
	case vc == vcPXE && port == PortDHCP:
		d.Opt43 = opt43BIOS
	}
	return d
}

// decideShim answers a UEFI client of a Secure Boot machine: the signed shim for its
// architecture (which loads the signed GRUB beside it), over TFTP for PXE firmware and as
// a URL for HTTP boot and for iPXE-UEFI; never an iPXE binary or script.
func decideShim(d Decision, f *Facts, c *Config, r route, vc vendorClassKind, port uint16) Decision {
	shim := shimFile(d.BuildArch)
	if shim == "" {
		return d.none("Secure Boot machine but no signed shim for " + d.BuildArch + " UEFI")
	}
	d.Chain = ChainShim
	switch r {
	case routeHTTP:
		if !c.HTTP {
			return d.none("HTTP boot client but HTTP is off")
		}
		d.Boot = true
		d.SIAddr = c.ServerIP
		d.Opt60 = "HTTPClient"
		d.Opt97 = opt97(f)
		d.File = httpURL(c, shim)
		return d
	case routeIPXE:
		// iPXE-UEFI cannot have started under Secure Boot enforcement, but the machine is
		// marked: it gets the same signed chain as its firmware would.
		d.Boot = true
		d.SIAddr = c.ServerIP
		d.Opt97 = opt97(f)
		if vc == vcPXE {
			d.Opt60 = "PXEClient"
		}
		switch {
		case c.HTTP:
			d.File = httpURL(c, shim)
		case c.TFTP:
			d.File = "tftp://" + c.ServerIP.String() + "/" + shim
		default:
			return d.none("neither HTTP nor TFTP is on")
		}
		return d
	}
	return firmwareReply(d, f, c, shim, true, vc, port)
}

// route is the branch of the policy a request takes.
type route uint8

const (
	routeFirmware route = iota // PXE firmware or a plain DHCP client
	routeIPXE
	routeHTTP
	routeUBoot
	routePi
)

// none returns d with Boot false and the reason, every boot field cleared.
func (d Decision) none(reason string) Decision {
	return Decision{
		Reason: reason, Kind: d.Kind, Arch: d.Arch, ArchKnown: d.ArchKnown,
		Platform: d.Platform, BuildArch: d.BuildArch, IsPi: d.IsPi, IsIPXE: d.IsIPXE,
	}
}

// decideIPXE answers iPXE itself: the script, never an iPXE binary (that would loop).
func decideIPXE(d Decision, f *Facts, c *Config, info archInfo, inTable bool) Decision {
	d.Boot = true
	d.SIAddr = c.ServerIP // iPXE ignores proxy offers without siaddr
	d.Opt97 = opt97(f)
	if classifyVendorClass(f.VendorClass) == vcPXE {
		d.Opt60 = "PXEClient"
	}
	if !c.IPXE {
		// PyPXE without --ipxe gives every client the netboot file; iPXE can run
		// pxelinux.0 and the like. Only an iPXE binary is replaced by the script.
		file := firmwareFile(c, f, d.Arch, d.ArchKnown, info, inTable)
		if file != "" && !IsIPXEBinary(file) {
			d.File, d.Opt66 = fileOrURL(c, file)
			if d.File == "" {
				return d.none("TFTP is off and " + file + " is not a URL")
			}
			return d
		}
	}
	script := scriptName(c)
	switch {
	case strings.Contains(script, "://"):
		d.File = script
	case c.HTTP:
		d.File = httpURL(c, script)
	case c.TFTP:
		d.File = "tftp://" + c.ServerIP.String() + "/" + strings.TrimLeft(script, "/")
	default:
		return d.none("neither HTTP nor TFTP is on")
	}
	return d
}

// decideHTTP answers UEFI (or BIOS) HTTP boot: option 60 HTTPClient and a full URL.
func decideHTTP(d Decision, f *Facts, c *Config, info archInfo, inTable bool) Decision {
	if !c.HTTP {
		return d.none("HTTP boot client but HTTP is off")
	}
	p := ""
	switch {
	case c.ROM != "" && !isScript(c.ROM):
		p = c.ROM
	case d.ArchKnown && c.ArchFiles[d.Arch] != "":
		p = c.ArchFiles[d.Arch]
	case c.HTTPBootPath != "":
		p = c.HTTPBootPath
	case inTable && info.file != "":
		p = info.file
	case !d.ArchKnown:
		p = FileIPXEx64 // HTTPClient without an architecture: EDK2 x64 is all that exists
	}
	if p == "" {
		return d.none("no HTTP boot file for architecture " + strconv.Itoa(int(d.Arch)))
	}
	d.Boot = true
	d.SIAddr = c.ServerIP
	d.Opt60 = "HTTPClient"
	d.Opt97 = opt97(f)
	if strings.Contains(p, "://") {
		d.File = p
	} else {
		d.File = httpURL(c, p)
	}
	return d
}

// decideUBoot answers U-Boot: siaddr always (U-Boot ignores option 66), option 209 when
// configured.
func decideUBoot(d Decision, f *Facts, c *Config) Decision {
	file := c.UBoot.File
	if file == "" {
		file = FileUBoot
	}
	if d.ArchKnown && c.ArchFiles[d.Arch] != "" {
		file = c.ArchFiles[d.Arch]
	}
	if c.ROM != "" && !isScript(c.ROM) {
		file = c.ROM
	}
	d.File, d.Opt66 = fileOrURL(c, file)
	if d.File == "" {
		return d.none("TFTP is off and " + file + " is not a URL")
	}
	d.Boot = true
	d.SIAddr = c.ServerIP
	d.Opt97 = opt97(f)
	d.Opt209 = c.UBoot.ConfigFile
	return d
}

// decidePi answers a Raspberry Pi bootloader: the option 43 menu, option 66 as a dotted IP,
// siaddr, option 60 and 97 echoed, no boot file (the Pi asks for its files by name).
func decidePi(d Decision, f *Facts, c *Config, pi *piMatch) Decision {
	if !c.TFTP {
		return d.none("Raspberry Pi bootloader but TFTP is off")
	}
	d.Boot = true
	d.SIAddr = c.ServerIP
	d.Opt66 = addrText(c.ServerIP)
	d.Opt60 = "PXEClient"
	d.Opt97 = opt97(f)
	switch c.Pi.Menu {
	case PiMenuPlain:
		d.Opt43 = opt43Pi
	case PiMenuThreeSpaces:
		d.Opt43 = opt43PiSpaces
	default:
		d.Opt43 = opt43Pi
		if pi.oldROM {
			d.Opt43 = opt43PiSpaces
		}
	}
	d.CommitAtOffer = f.Mode == Full
	d.PiTFTPPrefix = piPrefix(&c.Pi, f, pi)
	return d
}

// firmwareFile returns the boot file for PXE firmware (not iPXE, not HTTP boot): the
// reservation's ROM, else the per-architecture override, else the default.
func firmwareFile(c *Config, f *Facts, arch uint16, archKnown bool, info archInfo, inTable bool) string {
	if c.ROM != "" && !isScript(c.ROM) {
		return c.ROM
	}
	if archKnown && c.ArchFiles[arch] != "" {
		return c.ArchFiles[arch]
	}
	switch {
	case !archKnown || (inTable && info.fam == famBIOS):
		if c.IPXE {
			return FileUndionly
		}
		if c.NetbootFile != "" {
			return c.NetbootFile
		}
		return FilePXELinux
	case inTable:
		return info.file
	}
	return ""
}

// scriptName returns the iPXE script for iPXE clients.
func scriptName(c *Config) string {
	switch {
	case isScript(c.ROM):
		return c.ROM
	case c.IPXE && c.NetbootFile != "" && !IsIPXEBinary(c.NetbootFile):
		// A NETBOOT_FILE naming an iPXE binary would make iPXE load itself forever.
		return c.NetbootFile
	}
	return FileScript
}

// fileOrURL returns the file field for a TFTP-served file and the matching option 66; a
// URL goes out unchanged without option 66. With TFTP off a plain path gives "".
func fileOrURL(c *Config, file string) (string, string) {
	if strings.Contains(file, "://") {
		return file, ""
	}
	if !c.TFTP {
		return "", ""
	}
	return file, addrText(c.ServerIP)
}

// httpURL returns http://host[:port]/p for the HTTP server.
func httpURL(c *Config, p string) string {
	host := c.HTTPHost
	if !host.IsValid() || host.IsUnspecified() {
		host = c.ServerIP
	}
	var b strings.Builder
	b.Grow(len("http://255.255.255.255:65535/") + len(p))
	b.WriteString("http://")
	b.WriteString(host.String())
	if c.HTTPPort != 0 && c.HTTPPort != 80 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(c.HTTPPort)))
	}
	b.WriteByte('/')
	b.WriteString(strings.TrimLeft(p, "/"))
	return b.String()
}

func opt97(f *Facts) []byte {
	if len(f.Opt97) == 0 {
		return nil
	}
	return f.Opt97
}

// isScript reports whether name is an iPXE script (by its extension).
func isScript(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".ipxe")
}

// IsIPXEBinary reports whether name (a path or URL) names an iPXE binary by the names iPXE
// and Debian give them: *.kpxe, *.kkpxe, undionly*, snp*.efi, snponly*.efi, *ipxe*.efi,
// *ipxe*.pxe, *ipxe*.lkrn. The policy never gives such a file to iPXE itself.
func IsIPXEBinary(name string) bool {
	if i := strings.IndexAny(name, "?#"); i >= 0 && strings.Contains(name, "://") {
		name = name[:i]
	}
	b := strings.ToLower(path.Base(strings.ReplaceAll(name, "\\", "/")))
	switch {
	case strings.HasSuffix(b, ".kpxe"), strings.HasSuffix(b, ".kkpxe"), strings.HasSuffix(b, ".kkkpxe"):
		return true
	case strings.HasPrefix(b, "undionly"):
		return true
	case strings.HasSuffix(b, ".efi") && (strings.HasPrefix(b, "snp") || strings.Contains(b, "ipxe")):
		return true
	case strings.Contains(b, "ipxe") && (strings.HasSuffix(b, ".pxe") || strings.HasSuffix(b, ".lkrn") ||
		strings.HasSuffix(b, ".usb") || strings.HasSuffix(b, ".iso")):
		return true
	}
	return false
}

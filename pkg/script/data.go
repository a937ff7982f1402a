package script

// Data is what a script template sees as dot ({{.MAC}}, {{.Reservation.rack}}). Unknown
// facts are empty strings (or 0). The caller fills it; facts a client controls (hostname,
// platform…) should be filtered to script-safe text first, as pkg/http does.
type Data struct {
	MAC       string // "52:54:00:12:34:56"
	MACHyp    string // "52-54-00-12-34-56", iPXE ${mac:hexhyp}
	MACHex    string // "525400123456"
	IP        string // the client's address as this server sees it
	Arch      uint16 // option 93
	ArchName  string
	Platform  string // "pcbios", "efi"
	BuildArch string // "i386", "x86_64", "arm64"
	Hostname  string
	UUID      string
	Kind      string
	// Reservation holds the static lease entry's fields; {{.Reservation.key}} is "" when
	// absent.
	Reservation map[string]string
	// NBD names the NBD root the box serves: "server", "port", "export", "root" (Debian's
	// nbdroot= form server:port/export) and "url" (nbd://server:port/export); empty
	// strings when no NBD server runs.
	NBD     map[string]string
	Server  string // address the client reached this server on (or Config.ServerIP)
	Port    int    // HTTP port the client used
	BaseURL string // "http://Server:Port" (port omitted when 80)
}

// templateField is {{.Name}} for the evaluator (template.go), which does not use
// reflection; TestScriptDataFields checks that it covers every field.
func (d Data) templateField(name string) (any, bool) {
	switch name {
	case "MAC":
		return d.MAC, true
	case "MACHyp":
		return d.MACHyp, true
	case "MACHex":
		return d.MACHex, true
	case "IP":
		return d.IP, true
	case "Arch":
		return d.Arch, true
	case "ArchName":
		return d.ArchName, true
	case "Platform":
		return d.Platform, true
	case "BuildArch":
		return d.BuildArch, true
	case "Hostname":
		return d.Hostname, true
	case "UUID":
		return d.UUID, true
	case "Kind":
		return d.Kind, true
	case "Reservation":
		return d.Reservation, true
	case "NBD":
		return d.NBD, true
	case "Server":
		return d.Server, true
	case "Port":
		return d.Port, true
	case "BaseURL":
		return d.BaseURL, true
	}
	return nil, false
}

package httpd

// templateField is {{.Name}} for the script evaluator (tmpl.go), which does not use
// reflection; TestScriptDataFields checks that it covers every field.
func (d ScriptData) templateField(name string) (any, bool) {
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
	case "Server":
		return d.Server, true
	case "Port":
		return d.Port, true
	case "BaseURL":
		return d.BaseURL, true
	}
	return nil, false
}

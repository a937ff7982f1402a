package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Action is what the command line asks the program to do.
type Action int

// Actions.
const (
	Run              Action = iota // serve
	Help                           // print usage and exit 0
	Version                        // print the version and exit 0
	DumpConfig                     // print the default configuration as a PyPXE JSON file
	DumpConfigMerged               // print the configuration after the file and flags are merged
)

// Result is a parsed command line.
type Result struct {
	Action Action
	Config *Config
}

// ErrUsage wraps every command-line and configuration error; the command exits with status 2
// for these.
var ErrUsage = errors.New("bad configuration")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

type assignment struct {
	s     *setting
	value string
	flag  string
}

// Parse reads the command line (without the program name), loads --config if given, applies
// the flags over it and, for Action Run, validates the result. Errors wrap ErrUsage.
func Parse(args []string) (*Result, error) {
	var (
		assigns    []assignment
		configFile string
		action     = Run
		modeFlags  []string
		pairs      = map[string]string{} // key → first flag that set it, for "--ipxe and --no-ipxe"
	)
	longs := map[string]*setting{}
	negs := map[string]*setting{}
	shorts := map[string]*setting{}
	for _, s := range settings {
		longs[s.long] = s
		for _, a := range s.longAlt {
			longs[a] = s
		}
		if s.neg != "" {
			negs[s.neg] = s
		}
		if s.short != "" {
			shorts[s.short] = s
		}
	}
	setAction := func(a Action) {
		if action == Run || a == Help {
			action = a
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || arg == "-" || !strings.HasPrefix(arg, "-") {
			return nil, usageErr("unexpected argument %q: pxe-edge takes only flags (see --help)", arg)
		}
		single := !strings.HasPrefix(arg, "--")
		body := strings.TrimLeft(arg, "-")
		name, val, hasVal := strings.Cut(body, "=")
		// argparse lets a short flag carry its value attached: -s192.168.2.2.
		if single && len(name) > 1 && longs[name] == nil && negs[name] == nil && !isSpecial(name) {
			if s := shorts[name[:1]]; s != nil && s.kind != kBool {
				name, val, hasVal = name[:1], body[1:], true
			}
		}
		takeValue := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usageErr("%s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		var s *setting
		if single && len(name) == 1 {
			s = shorts[name]
			if s == nil && name != "h" {
				return nil, usageErr("unknown flag %s (see --help)", arg)
			}
		}
		switch {
		case name == "h" || name == "help":
			setAction(Help)
			continue
		case name == "version":
			setAction(Version)
			continue
		case name == "dump-config":
			setAction(DumpConfig)
			continue
		case name == "dump-config-merged":
			setAction(DumpConfigMerged)
			continue
		case name == "config":
			v, err := takeValue()
			if err != nil {
				return nil, err
			}
			configFile = v
			continue
		}
		if s == nil {
			s = longs[name]
		}
		neg := false
		if s == nil {
			if s = negs[name]; s == nil {
				return nil, usageErr("unknown flag %s (see --help)", arg)
			}
			neg = true
		}
		var v string
		if s.kind == kBool {
			v = "true"
			if hasVal {
				v = val
			}
			if neg {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, usageErr("%s: %q is not true or false", arg, v)
				}
				v = strconv.FormatBool(!b)
			}
		} else {
			var err error
			if v, err = takeValue(); err != nil {
				return nil, err
			}
		}
		flagText := arg
		if k, _, _ := strings.Cut(arg, "="); k != "" {
			flagText = k
		}
		if s.neg != "" {
			if prev, ok := pairs[s.key]; ok && prev != flagText {
				return nil, usageErr("%s and %s contradict each other; give one", prev, flagText)
			}
			pairs[s.key] = flagText
		}
		switch s.key {
		case "USE_DHCP", "DHCP_MODE_PROXY", "DHCP_MODE_AUTO":
			if v == "true" {
				modeFlags = append(modeFlags, flagText)
			}
		}
		assigns = append(assigns, assignment{s: s, value: v, flag: flagText})
	}
	if len(modeFlags) > 1 {
		return nil, usageErr("%s: give only one of --dhcp, --dhcp-proxy and --dhcp-auto", strings.Join(modeFlags, " and "))
	}

	c := Defaults()
	if action == DumpConfig || action == Help || action == Version {
		// PyPXE's --dump-config prints the defaults, whatever else is given.
		return &Result{Action: action, Config: c}, nil
	}
	if configFile != "" {
		if err := c.loadFile(configFile); err != nil {
			return nil, err
		}
		c.ConfigFile = configFile
	}
	if len(modeFlags) == 1 {
		// A mode flag on the command line replaces the file's mode rather than mixing with it.
		c.UseDHCP, c.DHCPProxy, c.DHCPAuto = false, false, false
	}
	for _, a := range assigns {
		if err := a.s.setString(c, a.value); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		c.Given[a.s.key] = true
		if a.s.nbd && a.s.key != "NBD_BLOCK_DEVICE" && c.cliNBD == "" {
			c.cliNBD = a.flag
		}
	}
	c.derive()
	if action == Run {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	return &Result{Action: action, Config: c}, nil
}

// derive fills settings left at PyPXE's defaults that only make sense for PyPXE's default
// network: the file server follows --dhcp-server-ip unless given, and the default router
// 192.168.2.1 is dropped (no option 3) when the server lives in another subnet.
func (c *Config) derive() {
	if !c.Given["DHCP_FILESERVER"] {
		c.DHCPFileserver = c.DHCPServerIP
	}
	if !c.Given["DHCP_ROUTER"] && c.DHCPRouter.IsValid() {
		if bits, ok := maskBits(c.DHCPSubnet); ok && !netip.PrefixFrom(c.DHCPServerIP, bits).Masked().Contains(c.DHCPRouter) {
			c.DHCPRouter = netip.Addr{}
		}
	}
}

func isSpecial(name string) bool {
	switch name {
	case "help", "version", "dump-config", "dump-config-merged", "config":
		return true
	}
	return false
}

// loadFile merges a PyPXE JSON configuration file into c. Every key must be known and of the
// right type; errors name the key.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usageErr("--config: %v", err)
	}
	return c.loadJSON(path, data)
}

func (c *Config) loadJSON(name string, data []byte) error {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return usageErr("%s is not a JSON object of settings: %v", name, err)
	}
	if dec.More() {
		return usageErr("%s: extra data after the JSON object", name)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		s := byKey[k]
		if s == nil {
			errs = append(errs, usageErr("%s: unknown key %q%s", name, k, suggest(k)))
			continue
		}
		if err := s.setJSON(c, raw[k]); err != nil {
			errs = append(errs, usageErr("%s: key %q: %v", name, k, err))
			continue
		}
		c.Given[s.key] = true
	}
	return errors.Join(errs...)
}

// setJSON sets the field from a JSON value of the type PyPXE writes. Integers also accept a
// numeric string, because PyPXE converts them with int() and its own files sometimes quote
// them; null means "empty" for strings, as PyPXE's SYSLOG_SERVER default shows.
func (s *setting) setJSON(c *Config, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	isNull := string(raw) == "null"
	switch s.kind {
	case kBool:
		var b bool
		if isNull || json.Unmarshal(raw, &b) != nil {
			return fmt.Errorf("want true or false, got %s", raw)
		}
		*s.ptr(c).(*bool) = b
	case kInt:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil || isNull {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return fmt.Errorf("want a whole number, got %s", raw)
			}
			n = json.Number(strings.TrimSpace(str))
		}
		v, err := strconv.Atoi(n.String())
		if err != nil {
			return fmt.Errorf("want a whole number, got %s", raw)
		}
		*s.ptr(c).(*int) = v
	case kDur:
		var n json.Number
		if json.Unmarshal(raw, &n) == nil && !isNull {
			return s.setString(c, n.String())
		}
		var str string
		if isNull || json.Unmarshal(raw, &str) != nil {
			return fmt.Errorf("want a duration (\"1s\", \"500ms\") or a number of seconds, got %s", raw)
		}
		if err := s.setString(c, str); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), s.flagName()+": "))
		}
	case kAddrs:
		var list []string
		if json.Unmarshal(raw, &list) == nil && !isNull {
			return s.setString(c, strings.Join(list, ","))
		}
		fallthrough
	default:
		var str string
		if !isNull {
			if err := json.Unmarshal(raw, &str); err != nil {
				return fmt.Errorf("want a string, got %s", raw)
			}
		}
		if err := s.setString(c, str); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), s.flagName()+": "))
		}
	}
	return nil
}

// suggest names a known key close to an unknown one (case or underscore slips).
func suggest(k string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), "-", "_") }
	for _, s := range settings {
		if norm(k) == s.key {
			return fmt.Sprintf(" (did you mean %q?)", s.key)
		}
	}
	return " (see --dump-config for every key)"
}

// Dump writes the configuration as a PyPXE JSON file: sorted keys, four-space indent, the
// format PyPXE's --dump-config prints and --config reads.
func (c *Config) Dump() []byte {
	m := make(map[string]any, len(settings))
	for _, s := range settings {
		m[s.key] = s.value(c)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m) // maps are encoded with sorted keys
	return b.Bytes()
}

// Usage returns the --help text.
func Usage(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", prog)
	b.WriteString("PyPXE-compatible PXE boot server: TFTP (on by default), HTTP, DHCP (full, proxy or auto).\n")
	b.WriteString("Precedence: defaults < --config FILE (PyPXE JSON) < flags. A flag's value name is its JSON key.\n\n")
	b.WriteString("  --config FILE             load a PyPXE JSON configuration file\n")
	b.WriteString("  --dump-config             print the defaults as a configuration file and exit\n")
	b.WriteString("  --dump-config-merged      print the configuration after --config and flags, and exit\n")
	b.WriteString("  --version                 print the version and exit\n")
	d := Defaults()
	for _, s := range settings {
		name := "--" + s.long
		if s.short != "" {
			name = "-" + s.short + ", " + name
		}
		if s.kind != kBool {
			name += " " + s.key // argparse's metavar is the dest: PyPXE's --help reads the same
		}
		if s.neg != "" {
			name += ", --" + s.neg
		}
		def := fmt.Sprint(s.value(d))
		if s.kind == kBool || def == "" || def == "<nil>" || s.key == "DHCP_FILESERVER" {
			def = ""
		} else {
			def = " (default " + def + ")"
		}
		if s.kind == kBool && s.value(d) == true {
			def = " (default on)"
		}
		if len(name) > 25 {
			fmt.Fprintf(&b, "  %s\n  %-25s %s%s\n", name, "", s.help, def)
		} else {
			fmt.Fprintf(&b, "  %-25s %s%s\n", name, s.help, def)
		}
	}
	return b.String()
}

// Markdown returns the settings as a Markdown table: flag, PyPXE JSON key, default, meaning,
// and whether the setting is PyPXE's or pxe-edge's own. cmd/pxe-edge/FLAGS.md is this table.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Flag | JSON key | Default | Origin | Meaning |\n|---|---|---|---|---|\n")
	d := Defaults()
	for _, s := range settings {
		flag := "`--" + s.long + "`"
		if s.short != "" {
			flag = "`-" + s.short + "`, " + flag
		}
		if s.neg != "" {
			flag += ", `--" + s.neg + "`"
		}
		for _, a := range s.longAlt {
			flag += ", `--" + a + "`"
		}
		key := "`" + s.key + "`"
		for _, a := range s.aliases {
			key += ", `" + a + "`"
		}
		def := fmt.Sprint(s.value(d))
		switch {
		case def == "<nil>" || def == "":
			def = "—"
		case s.key == "DHCP_FILESERVER":
			def = "= DHCP_SERVER_IP"
		default:
			def = "`" + def + "`"
		}
		origin := "PyPXE"
		switch {
		case s.ours:
			origin = "pxe-edge"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", flag, key, def, origin, strings.ReplaceAll(s.help, "|", "\\|"))
	}
	return b.String()
}

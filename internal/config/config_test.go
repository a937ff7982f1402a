package config

import (
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func mustParse(t *testing.T, args ...string) *Result {
	t.Helper()
	r, err := Parse(args)
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return r
}

// netbootDir returns an existing directory for settings that validate NETBOOT_DIR.
func netbootDir(t *testing.T) string { return t.TempDir() }

func TestDumpConfigIsPyPXEDefaults(t *testing.T) {
	r := mustParse(t, "--dump-config", "--dhcp", "-s", "10.0.0.1")
	if r.Action != DumpConfig {
		t.Fatalf("action %v, want DumpConfig", r.Action)
	}
	golden(t, "dump-config.golden", r.Config.Dump())
}

func TestDefaults(t *testing.T) {
	c := Defaults()
	if !c.UseTFTP || c.UseDHCP || c.UseHTTP || c.UseIPXE || c.Mode() != DHCPOff {
		t.Errorf("defaults must be TFTP only (PyPXE): %+v", c)
	}
	if c.NetbootDir != "netboot" || c.DHCPServerIP.String() != "192.168.2.2" || c.TFTPPort != 69 || c.HTTPPort != 80 {
		t.Errorf("defaults differ from PyPXE: %+v", c)
	}
	if got := c.Prefix().String(); got != "192.168.2.2/24" {
		t.Errorf("Prefix = %s", got)
	}
	if c.BootFile() != "pxelinux.0" {
		t.Errorf("BootFile = %s", c.BootFile())
	}
}

// The example configuration PyPXE ships (same keys, including its NBD_SERVER_PORT spelling)
// loads unchanged.
func TestPyPXEExampleConfig(t *testing.T) {
	dir := netbootDir(t)
	r := mustParse(t, "--config", "testdata/pypxe_example_cfg.json", "-a", dir)
	c := r.Config
	if c.Mode() != DHCPFull || !c.UseTFTP || c.UseHTTP {
		t.Errorf("mode %v tftp %v http %v; want full DHCP with TFTP", c.Mode(), c.UseTFTP, c.UseHTTP)
	}
	if c.DHCPBegin.String() != "192.168.2.100" || c.DHCPEnd.String() != "192.168.2.150" {
		t.Errorf("pool %v-%v", c.DHCPBegin, c.DHCPEnd)
	}
	if c.NetbootDir != dir {
		t.Errorf("-a on the command line must win over NETBOOT_DIR in the file: %q", c.NetbootDir)
	}
	if c.NBDPort != 10809 || c.SyslogServer != "" {
		t.Errorf("NBD_SERVER_PORT / SYSLOG_SERVER null: %d %q", c.NBDPort, c.SyslogServer)
	}
}

// A file in the shape PyPXE's --dump-config-merged writes, with a port quoted as a string as
// PyPXE's argparse leaves it, loads; the merged dump is stable.
func TestDumpConfigMerged(t *testing.T) {
	r := mustParse(t, "--config", "testdata/pypxe_server_settings.json", "--dump-config-merged",
		"--dhcp-proxy", "-f", "10.60.1.3", "--tftp-max", "32")
	if r.Action != DumpConfigMerged {
		t.Fatalf("action %v", r.Action)
	}
	c := r.Config
	if c.Mode() != DHCPProxy {
		t.Errorf("--dhcp-proxy on the command line must replace USE_DHCP from the file: %v", c.Mode())
	}
	if c.SyslogPort != 514 || c.TFTPMax != 32 || c.DHCPFileserver.String() != "10.60.1.3" {
		t.Errorf("merge: %+v", c)
	}
	lv := c.Levels()
	want := map[string]slog.Level{"tftp": slog.LevelDebug, "dhcp": slog.LevelDebug, "http": slog.LevelInfo, "nbd": LevelVerbose, "link": LevelVerbose}
	if !reflect.DeepEqual(lv, want) {
		t.Errorf("levels %v, want %v", lv, want)
	}
	golden(t, "dump-config-merged.golden", c.Dump())
	// The dump is itself a valid input file that reproduces the same settings.
	c2 := Defaults()
	if err := c2.loadJSON("dump", c.Dump()); err != nil {
		t.Fatalf("reloading the dump: %v", err)
	}
	if string(c2.Dump()) != string(c.Dump()) {
		t.Errorf("dump does not round-trip")
	}
}

func TestFlags(t *testing.T) {
	dir := netbootDir(t)
	tests := []struct {
		args  []string
		check func(*Config) bool
	}{
		{[]string{"--netboot-dir", dir}, func(c *Config) bool { return c.NetbootDir == dir && c.UseTFTP && c.Mode() == DHCPOff }},
		{[]string{"-a", dir, "--no-tftp", "--http"}, func(c *Config) bool { return !c.UseTFTP && c.UseHTTP }},
		{[]string{"-a", dir, "--tftp-port=6969", "--tftp-server-ip", "127.0.0.1"}, func(c *Config) bool {
			return c.TFTPPort == 6969 && c.TFTPServerIP.String() == "127.0.0.1" && c.Given["TFTP_SERVER_IP"]
		}},
		{[]string{"-a", dir, "--dhcp", "-s", "10.60.0.2", "-b", "10.60.0.100", "-e", "10.60.0.110", "-n", "255.255.255.0", "-r", "10.60.0.1", "-d", "10.60.0.1,9.9.9.9", "-f", "10.60.0.2", "-i", "ipxe.efi"},
			func(c *Config) bool {
				return c.Mode() == DHCPFull && c.DHCPServerIP.String() == "10.60.0.2" && c.DHCPBegin.String() == "10.60.0.100" &&
					c.DHCPEnd.String() == "10.60.0.110" && len(c.DHCPDNS) == 2 && c.NetbootFile == "ipxe.efi" && c.BootFile() == "ipxe.efi"
			}},
		// argparse-style attached short values and Go-style single-dash long flags.
		{[]string{"-a" + dir, "-s10.60.0.2", "-dhcp-proxy"}, func(c *Config) bool {
			return c.NetbootDir == dir && c.DHCPServerIP.String() == "10.60.0.2" && c.Mode() == DHCPProxy
		}},
		{[]string{"-a", dir, "--dhcp-auto", "--iface", "eth0", "--state-dir", "/tmp/x", "--tftp-windowsize-max", "16", "--log-format", "json"}, func(c *Config) bool {
			return c.Mode() == DHCPAuto && c.Iface == "eth0" && c.StateDir == "/tmp/x" && c.TFTPWindowsizeMax == 16 && c.LogFormat == "json"
		}},
		{[]string{"-a", dir, "--ipxe", "--http"}, func(c *Config) bool { return c.BootFile() == "boot.http.ipxe" }},
		{[]string{"-a", dir, "--ipxe"}, func(c *Config) bool { return c.BootFile() == "boot.ipxe" }},
		{[]string{"-a", dir, "-r", "", "-d", "", "--dhcp"}, func(c *Config) bool { return !c.DHCPRouter.IsValid() && len(c.DHCPDNS) == 0 }},
		{[]string{"-a", dir, "--syslog", "10.60.0.9", "--syslog-port", "5514", "--syslog-format", "rfc3164"}, func(c *Config) bool {
			return c.SyslogServer == "10.60.0.9" && c.SyslogPort == 5514 && c.SyslogFormat == "rfc3164"
		}},
		{[]string{"-a", dir, "--dhcp", "-s", "10.60.9.2", "-b", "10.60.9.100", "-e", "10.60.9.110"}, func(c *Config) bool {
			return c.DHCPFileserver.String() == "10.60.9.2" && !c.DHCPRouter.IsValid()
		}},
		{[]string{"-a", dir, "--dhcp", "-s", "192.168.2.3", "-f", "192.168.2.9"}, func(c *Config) bool {
			return c.DHCPFileserver.String() == "192.168.2.9" && c.DHCPRouter.String() == "192.168.2.1"
		}},
		{[]string{"-a", dir, "--dhcp-fileserver-ip", "192.168.2.7"}, func(c *Config) bool { return c.DHCPFileserver.String() == "192.168.2.7" }},
		{[]string{"-a", dir, "--http-status=false"}, func(c *Config) bool { return !c.HTTPStatus }},
		{[]string{"-a", dir}, func(c *Config) bool { return c.HTTPStatus }},
		{[]string{"-a", dir, "--no-pi", "--pi-menu", "three-spaces", "--pi-tftp-prefix", "mac", "--pi-http-path", "pi/boot",
			"--uboot-file", "u-boot/pxelinux.0", "--uboot-config-file", "pxelinux.cfg/default", "--http-boot-path", "/efi/grub.efi",
			"--http-max-conns", "8", "--http-list-dirs", "--tftp-timeout", "500ms", "--tftp-retries", "9", "--tftp-idle-timeout", "90"},
			func(c *Config) bool {
				return !c.UsePi && c.PiMenu == "three-spaces" && c.PiTFTPPrefix == "mac" && c.PiHTTPPath == "pi/boot" &&
					c.UBootFile == "u-boot/pxelinux.0" && c.UBootConfigFile == "pxelinux.cfg/default" && c.HTTPBootPath == "/efi/grub.efi" &&
					c.HTTPMaxConns == 8 && c.HTTPListDirs && c.TFTPTimeout == 500*time.Millisecond && c.TFTPRetries == 9 &&
					c.TFTPIdleTimeout == 90*time.Second
			}},
		{[]string{"-a", dir}, func(c *Config) bool {
			return c.UsePi && c.PiMenu == "auto" && c.PiHTTPPath == "net_install" && c.HTTPMaxConns == 64 &&
				c.TFTPTimeout == time.Second && c.TFTPRetries == 5 && c.TFTPIdleTimeout == time.Minute
		}},
	}
	for _, tt := range tests {
		r, err := Parse(tt.args)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.args, err)
			continue
		}
		if !tt.check(r.Config) {
			t.Errorf("Parse(%q): unexpected config %+v", tt.args, r.Config)
		}
	}
	if r := mustParse(t, "--version"); r.Action != Version {
		t.Errorf("--version: action %v", r.Action)
	}
	if r := mustParse(t, "-h"); r.Action != Help {
		t.Errorf("-h: action %v", r.Action)
	}
}

// Every bad configuration is an ErrUsage (exit status 2) whose message names the setting.
func TestErrors(t *testing.T) {
	dir := netbootDir(t)
	write := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := write("disk.img", "image")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--bogus"}, []string{"unknown flag --bogus"}},
		{[]string{"-z"}, []string{"unknown flag -z"}},
		{[]string{"stray"}, []string{`unexpected argument "stray"`}},
		{[]string{"-s"}, []string{"-s needs a value"}},
		{[]string{"--dhcp", "--dhcp-proxy"}, []string{"give only one of --dhcp, --dhcp-proxy and --dhcp-auto"}},
		{[]string{"--ipxe", "--no-ipxe"}, []string{"--ipxe and --no-ipxe contradict"}},
		{[]string{"-a", dir, "-s", "nonsense"}, []string{"-s/--dhcp-server-ip (DHCP_SERVER_IP)", "not an IPv4 address"}},
		{[]string{"-a", dir, "--tftp-port", "x"}, []string{"--tftp-port (TFTP_PORT)", "not a whole number"}},
		{[]string{"-a", dir, "--tftp-port", "70000"}, []string{"--tftp-port (TFTP_PORT): port 70000 is out of range"}},
		{[]string{"-a", dir, "--pi-menu", "fancy"}, []string{"--pi-menu (PI_MENU)", "use auto, plain or three-spaces"}},
		{[]string{"-a", dir, "--tftp-timeout", "soon"}, []string{"--tftp-timeout (TFTP_TIMEOUT)", "not a duration"}},
		{[]string{"-a", dir, "--tftp-timeout", "5m"}, []string{"--tftp-timeout (TFTP_TIMEOUT): 5m0s; use 10ms-255s"}},
		{[]string{"-a", dir, "--tftp-retries", "0"}, []string{"--tftp-retries (TFTP_RETRIES): 0; use 1-100"}},
		{[]string{"-a", dir, "--tftp-idle-timeout", "0"}, []string{"--tftp-idle-timeout (TFTP_IDLE_TIMEOUT)"}},
		{[]string{"-a", dir, "--http-max-conns", "0"}, []string{"--http-max-conns (HTTP_MAX_CONNS): 0 connections"}},
		{[]string{"-a", dir, "--tcp-congestion", "Cubic;"}, []string{`--tcp-congestion (TCP_CONGESTION): "Cubic;" is not an algorithm name`}},
		{[]string{"-a", dir, "--tcp-congestion", ""}, []string{`--tcp-congestion (TCP_CONGESTION): "" is not an algorithm name`}},
		{[]string{"-a", dir, "--pi-http-path", "../x"}, []string{"--pi-http-path (PI_HTTP_PATH)"}},
		{[]string{"-a", filepath.Join(dir, "missing")}, []string{"-a/--netboot-dir (NETBOOT_DIR)", "create the directory"}},
		{[]string{"-a", dir, "--nbd", filepath.Join(dir, "missing.img")}, []string{"--nbd (NBD_BLOCK_DEVICE): stat", "no such file"}},
		{[]string{"-a", dir, "--nbd", dir}, []string{"--nbd (NBD_BLOCK_DEVICE):", "neither a regular file nor a block device"}},
		{[]string{"-a", dir, "--nbd-write"}, []string{"--nbd-write needs the image to serve: give --nbd FILE"}},
		{[]string{"-a", dir, "--nbd-cowinmem"}, []string{"--nbd-cowinmem needs the image to serve"}},
		{[]string{"-a", dir, "--nbd", img, "--nbd-port", "0"}, []string{"--nbd-port (NBD_PORT): port 0 is out of range"}},
		{[]string{"-a", dir, "--nbd", img, "--nbd-server", "nowhere"}, []string{`--nbd-server (NBD_SERVER_IP): "nowhere" is not an IP address`}},
		{[]string{"-a", dir, "--nbd", img, "--nbd-cow-mem-max", "0"}, []string{"--nbd-cow-mem-max (NBD_COW_MEM_MAX): 0 MiB"}},
		{[]string{"-a", dir, "--nbd", img, "--nbd-cow-in-mem"}, []string{"--nbd-cow-in-mem (NBD_COW_IN_MEM) keeps client writes", "add --nbd-write"}},
		{[]string{"-a", dir, "--dhcp", "-b", "10.0.0.5"}, []string{"-b/--dhcp-begin (DHCP_OFFER_BEGIN): 10.0.0.5 is outside the subnet", "192.168.2.0/24"}},
		{[]string{"-a", dir, "--dhcp", "-r", "10.0.0.1"}, []string{"-r/--dhcp-router (DHCP_ROUTER): 10.0.0.1 is outside 192.168.2.0/24"}},
		{[]string{"-a", dir, "--dhcp", "-s", "192.168.2.120"}, []string{"-s/--dhcp-server-ip (DHCP_SERVER_IP): 192.168.2.120 lies inside the pool"}},
		{[]string{"-a", dir, "--dhcp", "-b", "192.168.2.150", "-e", "192.168.2.100"}, []string{"comes after", "swap them"}},
		{[]string{"-a", dir, "--dhcp", "-n", "255.0.255.0"}, []string{"-n/--dhcp-subnet (DHCP_SUBNET)", "not a usable netmask"}},
		{[]string{"-a", dir, "--dhcp", "-e", "192.168.2.255"}, []string{"network or broadcast address"}},
		{[]string{"-a", dir, "--dhcp", "--dhcp-whitelist"}, []string{"--dhcp-whitelist (DHCP_WHITELIST) needs the allowed clients"}},
		{[]string{"-a", dir, "--debug", "tftp,ftp"}, []string{"--debug (MODE_DEBUG)", `unknown service "ftp"`}},
		{[]string{"-a", dir, "--log-format", "xml"}, []string{"--log-format (LOG_FORMAT)", "use text or json"}},
		{[]string{"-a", dir, "--no-tftp"}, []string{"leaves nothing to serve"}},
		{[]string{"-a", dir, "--http-status=maybe"}, []string{`--http-status (HTTP_STATUS): "maybe" is not true or false`}},
		{[]string{"--config", write("u.json", `{"USE_DHCP": true, "DHCP_SERVR_IP": "1.2.3.4"}`)}, []string{`unknown key "DHCP_SERVR_IP"`}},
		{[]string{"--config", write("c.json", `{"use_dhcp": true}`)}, []string{`unknown key "use_dhcp" (did you mean "USE_DHCP"?)`}},
		{[]string{"--config", write("t.json", `{"USE_DHCP": "yes"}`)}, []string{`key "USE_DHCP": want true or false`}},
		{[]string{"--config", write("i.json", `{"DHCP_SERVER_PORT": 67.5}`)}, []string{`key "DHCP_SERVER_PORT": want a whole number`}},
		{[]string{"--config", write("a.json", `{"DHCP_SERVER_IP": 42}`)}, []string{`key "DHCP_SERVER_IP": want a string`}},
		{[]string{"--config", write("b.json", `{"DHCP_SERVER_IP": "fe80::1"}`)}, []string{`key "DHCP_SERVER_IP": "fe80::1" is not an IPv4 address`}},
		{[]string{"--config", write("n.json", `[1,2]`)}, []string{"is not a JSON object of settings"}},
		{[]string{"--config", write("nbd.json", `{"NBD_BLOCK_DEVICE": "/nonexistent/disk.img"}`), "-a", dir}, []string{"--nbd (NBD_BLOCK_DEVICE): stat /nonexistent/disk.img"}},
		{[]string{"--config", "/nonexistent/pxe.json"}, []string{"--config:", "no such file"}},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.args, tt.want)
			continue
		}
		if !errors.Is(err, ErrUsage) {
			t.Errorf("Parse(%q): %v does not wrap ErrUsage", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q):\n  %v\nwant it to contain %q", tt.args, err, w)
			}
		}
	}
}

// Proxy mode hands out no addresses, so a pool outside the subnet does not matter there.
func TestProxyIgnoresPool(t *testing.T) {
	r := mustParse(t, "-a", netbootDir(t), "--dhcp-proxy", "-s", "10.60.0.2", "-f", "10.60.0.2")
	if r.Config.Mode() != DHCPProxy {
		t.Fatal(r.Config.Mode())
	}
}

func TestParseServices(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"tftp", []string{"tftp"}},
		{"TFTP, dhcp", []string{"dhcp", "tftp"}},
		{"all", []string{"dhcp", "http", "link", "nbd", "tftp"}},
		{"all,-dhcp", []string{"http", "link", "nbd", "tftp"}},
		{"tftp,-tftp", nil},
	}
	for _, tt := range tests {
		got, err := ParseServices(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var names []string
		for _, s := range []string{"dhcp", "http", "link", "nbd", "tftp"} {
			if got[s] {
				names = append(names, s)
			}
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("%q: %v, want %v", tt.in, names, tt.want)
		}
	}
}

func TestUsageListsEveryFlag(t *testing.T) {
	u := Usage("pxe-edge")
	for _, s := range settings {
		if !strings.Contains(u, "--"+s.long) || (s.kind != kBool && !strings.Contains(u, "--"+s.long+" "+s.key)) {
			t.Errorf("usage lacks --%s %s", s.long, s.key)
		}
	}
}

func TestMaskBits(t *testing.T) {
	for m, want := range map[string]int{"255.255.255.0": 24, "255.255.0.0": 16, "255.255.255.252": 30, "0.0.0.0": 0} {
		n, ok := maskBits(netip.MustParseAddr(m))
		if !ok || n != want {
			t.Errorf("%s: %d %v", m, n, ok)
		}
	}
	if _, ok := maskBits(netip.MustParseAddr("255.0.255.0")); ok {
		t.Error("255.0.255.0 accepted")
	}
}

// FuzzLoadJSON: configuration files are user input; loading must never panic, and whatever
// loads must dump to a file that loads again.
func FuzzLoadJSON(f *testing.F) {
	for _, p := range []string{"testdata/pypxe_example_cfg.json", "testdata/pypxe_server_settings.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"DHCP_DNS": ["1.1.1.1", "8.8.8.8"], "TFTP_PORT": "69"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Defaults()
		if err := c.loadJSON("fuzz", data); err != nil {
			return
		}
		c2 := Defaults()
		if err := c2.loadJSON("dump", c.Dump()); err != nil {
			t.Fatalf("dump of a loaded file does not load: %v\n%s", err, c.Dump())
		}
	})
}

// The boot-policy, HTTP and TFTP tuning keys load from a JSON file like PyPXE's own keys;
// durations take a string or a number of seconds, and a wrong type names the key.
func TestTuningFromJSON(t *testing.T) {
	dir := netbootDir(t)
	p := filepath.Join(t.TempDir(), "cfg.json")
	os.WriteFile(p, []byte(`{"NETBOOT_DIR": "`+dir+`", "USE_PI": false, "PI_MENU": "plain", "UBOOT_CONFIG_FILE": "pxelinux.cfg/default",
		"HTTP_MAX_CONNS": "16", "TFTP_TIMEOUT": 2, "TFTP_IDLE_TIMEOUT": "2m", "TFTP_RETRIES": 3}`), 0o644)
	c := mustParse(t, "--config", p).Config
	if c.UsePi || c.PiMenu != "plain" || c.UBootConfigFile != "pxelinux.cfg/default" || c.HTTPMaxConns != 16 ||
		c.TFTPTimeout != 2*time.Second || c.TFTPIdleTimeout != 2*time.Minute || c.TFTPRetries != 3 {
		t.Fatalf("JSON tuning keys: %+v", c)
	}
	os.WriteFile(p, []byte(`{"NETBOOT_DIR": "`+dir+`", "TFTP_TIMEOUT": true}`), 0o644)
	if _, err := Parse([]string{"--config", p}); err == nil || !strings.Contains(err.Error(), `key "TFTP_TIMEOUT": want a duration`) {
		t.Fatalf("wrong type: %v", err)
	}
}

// NBD settings are accepted with an image, PyPXE spellings included, and validated.
func TestNBDSettings(t *testing.T) {
	dir := netbootDir(t)
	img := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "-a", dir, "--nbd", img).Config
	if !c.NBD() || c.NBDWrite || !c.NBDCow || c.NBDCowInMem || c.NBDCopyToRAM || c.NBDPort != 10809 || c.NBDServerIP != "0.0.0.0" || c.NBDCowMemMax != 64 {
		t.Errorf("NBD defaults (read-only, cow default true, port 10809, 64 MiB): %+v", c)
	}
	c = mustParse(t, "-a", dir, "--nbd", img, "--nbd-write", "--nbd-cowinmem", "--nbd-copytoram", "--nbd-server", "127.0.0.1", "--nbd-port", "10810", "--nbd-cow-mem-max", "8").Config
	if !c.NBDWrite || !c.NBDCowInMem || !c.NBDCopyToRAM || c.NBDServerIP != "127.0.0.1" || c.NBDPort != 10810 || c.NBDCowMemMax != 8 {
		t.Errorf("NBD flags not applied: %+v", c)
	}
	c = mustParse(t, "-a", dir, "--nbd", img, "--nbd-write", "--nbd-cow=false", "--nbd-cow-in-mem=false").Config
	if !c.NBDWrite || c.NBDCow {
		t.Errorf("--nbd-cow=false: %+v", c)
	}
	cfg := filepath.Join(t.TempDir(), "nbd.json")
	if err := os.WriteFile(cfg, []byte(`{"NBD_BLOCKDEVICE": "`+img+`", "NBD_WRITE": true, "NBD_COWINMEM": true, "NBD_SERVER_PORT": 10811}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c = mustParse(t, "--config", cfg, "-a", dir).Config
	if !c.NBD() || !c.NBDWrite || !c.NBDCowInMem || c.NBDPort != 10811 {
		t.Errorf("PyPXE JSON spellings: %+v", c)
	}
	if c := mustParse(t, "--no-tftp", "--nbd", img).Config; !c.NBD() || c.UseTFTP {
		t.Errorf("NBD alone is a service: %+v", c)
	}
	if c := mustParse(t, "-a", dir).Config; c.NBD() {
		t.Errorf("NBD on without --nbd")
	}
}

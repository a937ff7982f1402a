package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type kind int

const (
	kBool kind = iota
	kString
	kInt
	kAddr    // one IPv4 address
	kOptAddr // one IPv4 address or "" for none
	kAddrs   // comma-separated IPv4 addresses (or a JSON array of them)
	kDur     // a duration: "1.5s", "500ms", or a number of seconds
)

// setting ties one JSON key to its flags and to its Config field.
type setting struct {
	key     string   // PyPXE JSON key
	aliases []string // older PyPXE spellings of the key, accepted in files
	long    string   // flag name, without dashes
	longAlt []string // older PyPXE spellings of the flag
	short   string   // PyPXE short flag, if any
	neg     string   // flag that sets a bool to false (--no-tftp)
	kind    kind
	help    string
	ours    bool // pxe-edge's own, not PyPXE's
	nbd     bool // NBD setting: only meaningful with --nbd FILE
	ptr     func(*Config) any
}

// settings lists every setting in the order --help shows them.
var settings = []*setting{
	{key: "USE_IPXE", long: "ipxe", neg: "no-ipxe", kind: kBool,
		help: "chainload iPXE first (PXE clients get the iPXE ROM, iPXE gets NETBOOT_FILE)",
		ptr:  func(c *Config) any { return &c.UseIPXE }},
	{key: "USE_HTTP", long: "http", neg: "no-http", kind: kBool,
		help: "enable the built-in HTTP server",
		ptr:  func(c *Config) any { return &c.UseHTTP }},
	{key: "USE_TFTP", long: "tftp", neg: "no-tftp", kind: kBool,
		help: "enable the built-in TFTP server",
		ptr:  func(c *Config) any { return &c.UseTFTP }},
	{key: "USE_DHCP", long: "dhcp", kind: kBool,
		help: "enable the built-in DHCP server (full: hands out addresses from the pool)",
		ptr:  func(c *Config) any { return &c.UseDHCP }},
	{key: "DHCP_MODE_PROXY", aliases: []string{"DHCP_PROXY_MODE"}, long: "dhcp-proxy", kind: kBool,
		help: "enable the DHCP server in ProxyDHCP mode (boot information only; implies --dhcp)",
		ptr:  func(c *Config) any { return &c.DHCPProxy }},
	{key: "DHCP_MODE_AUTO", long: "dhcp-auto", kind: kBool, ours: true,
		help: "ProxyDHCP when another DHCP server answers on the interface, full DHCP otherwise; re-checked when the cable comes back",
		ptr:  func(c *Config) any { return &c.DHCPAuto }},
	{key: "MODE_DEBUG", long: "debug", kind: kString,
		help: "services to log at debug level, comma-separated: tftp,dhcp,http,nbd,link, 'all', '-svc' to exclude (all,-dhcp)",
		ptr:  func(c *Config) any { return &c.ModeDebug }},
	{key: "MODE_VERBOSE", long: "verbose", kind: kString,
		help: "services to log verbosely (less than --debug); same syntax as --debug",
		ptr:  func(c *Config) any { return &c.ModeVerbose }},
	{key: "STATIC_CONFIG", long: "static-config", kind: kString,
		help: "PyPXE static lease JSON file ({\"dhcp\":{\"binding\":{MAC:{...}}}}); reloaded on SIGHUP",
		ptr:  func(c *Config) any { return &c.StaticConfig }},
	{key: "LEASES_FILE", long: "save-leases", kind: kString,
		help: "PyPXE lease file: loaded at start, saved on exit and SIGHUP",
		ptr:  func(c *Config) any { return &c.LeasesFile }},
	{key: "SYSLOG_SERVER", long: "syslog", kind: kString,
		help: "send logs to this syslog server (UDP)",
		ptr:  func(c *Config) any { return &c.SyslogServer }},
	{key: "SYSLOG_PORT", long: "syslog-port", kind: kInt, help: "syslog server port", ptr: func(c *Config) any { return &c.SyslogPort }},
	{key: "SYSLOG_FORMAT", long: "syslog-format", kind: kString, ours: true,
		help: "syslog message format: rfc5424 or rfc3164",
		ptr:  func(c *Config) any { return &c.SyslogFormat }},

	{key: "DHCP_SERVER_IP", long: "dhcp-server-ip", short: "s", kind: kAddr,
		help: "our address on the boot network (added to --iface if missing)",
		ptr:  func(c *Config) any { return &c.DHCPServerIP }},
	{key: "DHCP_SERVER_PORT", long: "dhcp-server-port", short: "p", kind: kInt,
		help: "DHCP server port",
		ptr:  func(c *Config) any { return &c.DHCPServerPort }},
	{key: "DHCP_OFFER_BEGIN", long: "dhcp-begin", short: "b", kind: kAddr,
		help: "first address of the lease pool",
		ptr:  func(c *Config) any { return &c.DHCPBegin }},
	{key: "DHCP_OFFER_END", long: "dhcp-end", short: "e", kind: kAddr,
		help: "last address of the lease pool",
		ptr:  func(c *Config) any { return &c.DHCPEnd }},
	{key: "DHCP_SUBNET", long: "dhcp-subnet", short: "n", kind: kAddr,
		help: "subnet mask of the boot network",
		ptr:  func(c *Config) any { return &c.DHCPSubnet }},
	{key: "DHCP_ROUTER", long: "dhcp-router", short: "r", kind: kOptAddr,
		help: "router (option 3) handed to clients; '' for none (the default is dropped when --dhcp-server-ip is in another subnet)",
		ptr:  func(c *Config) any { return &c.DHCPRouter }},
	{key: "DHCP_DNS", long: "dhcp-dns", short: "d", kind: kAddrs,
		help: "DNS server(s) handed to clients, comma-separated; '' for none",
		ptr:  func(c *Config) any { return &c.DHCPDNS }},
	{key: "DHCP_BROADCAST", long: "dhcp-broadcast", short: "c", kind: kString,
		help: "broadcast address; '' (default) uses 255.255.255.255 on the interface",
		ptr:  func(c *Config) any { return &c.DHCPBroadcast }},
	{key: "DHCP_FILESERVER", aliases: []string{"DHCP_FILESERVER_IP"},
		long: "dhcp-fileserver", longAlt: []string{"dhcp-fileserver-ip"}, short: "f", kind: kAddr,
		help: "TFTP/HTTP file server (next-server, option 66) handed to clients (default: --dhcp-server-ip)",
		ptr:  func(c *Config) any { return &c.DHCPFileserver }},
	{key: "DHCP_WHITELIST", long: "dhcp-whitelist", kind: kBool,
		help: "answer only the clients listed in --static-config",
		ptr:  func(c *Config) any { return &c.DHCPWhitelist }},

	{key: "HTTP_PORT", long: "http-port", kind: kInt, help: "HTTP server port", ptr: func(c *Config) any { return &c.HTTPPort }},
	{key: "HTTP_SERVER_IP", long: "http-server-ip", kind: kAddr,
		help: "HTTP server address (0.0.0.0: the --iface address when one is managed, else all)",
		ptr:  func(c *Config) any { return &c.HTTPServerIP }},
	{key: "HTTP_STATUS", long: "http-status", neg: "no-http-status", kind: kBool, ours: true,
		help: "serve the dashboard, /api/status, /api/events and /metrics on the --http server (--http-status=false: files only)",
		ptr:  func(c *Config) any { return &c.HTTPStatus }},

	{key: "NETBOOT_DIR", long: "netboot-dir", short: "a", kind: kString,
		help: "directory served over TFTP and HTTP",
		ptr:  func(c *Config) any { return &c.NetbootDir }},
	{key: "NETBOOT_FILE", long: "netboot-file", short: "i", kind: kString,
		help: "boot file name ('' = pxelinux.0, boot.ipxe or boot.http.ipxe as in PyPXE, per architecture where known)",
		ptr:  func(c *Config) any { return &c.NetbootFile }},

	{key: "TFTP_PORT", long: "tftp-port", kind: kInt, ours: true, help: "TFTP server port", ptr: func(c *Config) any { return &c.TFTPPort }},
	{key: "TFTP_SERVER_IP", long: "tftp-server-ip", kind: kAddr,
		help: "TFTP server address (0.0.0.0: the --iface address when one is managed, else all)",
		ptr:  func(c *Config) any { return &c.TFTPServerIP }},
	{key: "TFTP_MAX", long: "tftp-max", kind: kInt, ours: true,
		help: "most concurrent TFTP transfers (1-10000); more wait in a queue (--tftp-queue), none is refused",
		ptr:  func(c *Config) any { return &c.TFTPMax }},
	{key: "TFTP_MAX_PER_CLIENT", long: "tftp-max-per-client", kind: kInt, ours: true,
		help: "most concurrent TFTP transfers of one client address; 0 = half of --tftp-max, -1 = no cap",
		ptr:  func(c *Config) any { return &c.TFTPMaxPerClient }},
	{key: "TFTP_QUEUE", long: "tftp-queue", kind: kInt, ours: true,
		help: "TFTP requests that may wait for a slot (0 = 1024, -1 = none); past it requests go unanswered and clients retransmit",
		ptr:  func(c *Config) any { return &c.TFTPQueue }},
	{key: "TFTP_WINDOWSIZE_MAX", long: "tftp-windowsize-max", kind: kInt, ours: true,
		help: "largest RFC 7440 windowsize granted (1-65535)",
		ptr:  func(c *Config) any { return &c.TFTPWindowsizeMax }},

	{key: "NBD_BLOCK_DEVICE", aliases: []string{"NBD_BLOCKDEVICE"}, long: "nbd", kind: kString, nbd: true,
		help: "serve this image file or block device over NBD (the default export, named \"\" and by its base name); images " +
			"under <netboot>/nbd/ are further exports",
		ptr: func(c *Config) any { return &c.NBDBlockDevice }},
	{key: "NBD_WRITE", long: "nbd-write", kind: kBool, nbd: true,
		help: "NBD: let clients write (read-only without it); with --nbd-cow=false writes go to the image, one writable connection per export",
		ptr:  func(c *Config) any { return &c.NBDWrite }},
	{key: "NBD_COW", long: "nbd-cow", kind: kBool, nbd: true,
		help: "NBD: with --nbd-write, each client writes to its own copy-on-write overlay in --state-dir/nbd/<export>/<client " +
			"MAC or IP>, kept across reconnects and restarts",
		ptr: func(c *Config) any { return &c.NBDCow }},
	{key: "NBD_COW_IN_MEM", aliases: []string{"NBD_COWINMEM"}, long: "nbd-cow-in-mem", longAlt: []string{"nbd-cowinmem"}, kind: kBool, nbd: true,
		help: "NBD: keep copy-on-write overlays in memory (lost at exit), at most --nbd-cow-mem-max per client, then writes fail with ENOSPC",
		ptr:  func(c *Config) any { return &c.NBDCowInMem }},
	{key: "NBD_COW_MEM_MAX", long: "nbd-cow-mem-max", kind: kInt, nbd: true, ours: true,
		help: "NBD: MiB of in-memory overlay per client (1-65536)",
		ptr:  func(c *Config) any { return &c.NBDCowMemMax }},
	{key: "NBD_COPY_TO_RAM", aliases: []string{"NBD_COPYTORAM"}, long: "nbd-copy-to-ram", longAlt: []string{"nbd-copytoram"}, kind: kBool, nbd: true,
		help: "NBD: serve the --nbd image from a copy in memory (refused at start when it does not fit)",
		ptr:  func(c *Config) any { return &c.NBDCopyToRAM }},
	{key: "NBD_SERVER_IP", long: "nbd-server", kind: kString, nbd: true,
		help: "NBD server address (0.0.0.0: all)",
		ptr:  func(c *Config) any { return &c.NBDServerIP }},
	{key: "NBD_PORT", aliases: []string{"NBD_SERVER_PORT"}, long: "nbd-port", kind: kInt, nbd: true,
		help: "NBD server port",
		ptr:  func(c *Config) any { return &c.NBDPort }},

	{key: "IPXE_RA", long: "ipxe-ra", neg: "no-ipxe-ra", kind: kBool, ours: true,
		help: "answer the IPv6 router solicitations of iPXE clients (and only theirs) with a router advertisement of lifetime " +
			"0 that ends iPXE's IPv6 wait",
		ptr: func(c *Config) any { return &c.IPXERA }},
	{key: "USE_PI", long: "pi", neg: "no-pi", kind: kBool, ours: true,
		help: "recognise Raspberry Pis (option 43 menu, commit at OFFER); --no-pi treats them as BIOS PXE clients, which cannot boot",
		ptr:  func(c *Config) any { return &c.UsePi }},
	{key: "PI_MENU", long: "pi-menu", kind: kString, ours: true,
		help: "Raspberry Pi option 43 menu text: auto (three trailing spaces for Pi 2/3 ROMs), plain or three-spaces",
		ptr:  func(c *Config) any { return &c.PiMenu }},
	{key: "PI_TFTP_PREFIX", long: "pi-tftp-prefix", kind: kString, ours: true,
		help: "the Pis' EEPROM TFTP_PREFIX, for logs and the dashboard: '' = serial number, 'mac', or the fixed prefix string",
		ptr:  func(c *Config) any { return &c.PiTFTPPrefix }},
	{key: "PI_HTTP_PATH", long: "pi-http-path", kind: kString, ours: true,
		help: "URL prefix the Pi 4/5 bootloader fetches boot.img from over HTTP (EEPROM HTTP_PATH)",
		ptr:  func(c *Config) any { return &c.PiHTTPPath }},
	{key: "UBOOT_FILE", long: "uboot-file", kind: kString, ours: true,
		help: "boot file U-Boot gets ('' = pxelinux.0, beside the pxelinux.cfg/ directory U-Boot searches)",
		ptr:  func(c *Config) any { return &c.UBootFile }},
	{key: "UBOOT_CONFIG_FILE", long: "uboot-config-file", kind: kString, ours: true,
		help: "option 209 (PXELINUX config file) for U-Boot, e.g. pxelinux.cfg/default ('' = not sent)",
		ptr:  func(c *Config) any { return &c.UBootConfigFile }},
	{key: "SECURE_BOOT", long: "secure-boot", neg: "no-secure-boot", kind: kBool, ours: true,
		help: "treat every UEFI client as a Secure Boot machine: x86_64/arm64 UEFI gets the signed shim " +
			"(shimx64.efi/shimaa64.efi → signed GRUB → grub/grub.cfg) over PXE and HTTP boot, never iPXE; " +
			"a static-config binding's \"secureboot\" overrides it per machine",
		ptr: func(c *Config) any { return &c.SecureBoot }},
	{key: "HTTP_BOOT_PATH", long: "http-boot-path", kind: kString, ours: true,
		help: "path or URL UEFI HTTP boot clients get ('' = the iPXE EFI binary for their architecture)",
		ptr:  func(c *Config) any { return &c.HTTPBootPath }},
	{key: "HTTP_MAX_CONNS", long: "http-max-conns", kind: kInt, ours: true,
		help: "most concurrent HTTP connections (1-10000); more wait in the accept queue",
		ptr:  func(c *Config) any { return &c.HTTPMaxConns }},
	{key: "HTTP_MAX_CONNS_PER_CLIENT", long: "http-max-conns-per-client", kind: kInt, ours: true,
		help: "most HTTP connections one client address may hold (1-10000); past it the oldest idle one closes, else 503",
		ptr:  func(c *Config) any { return &c.HTTPMaxPerClient }},
	{key: "TCP_CONGESTION", long: "tcp-congestion", kind: kString, ours: true,
		help: "TCP congestion control of HTTP and NBD connections (cubic, reno, bbr…), or 'system' for the kernel's default; " +
			"BBR without the fq qdisc paces every connection with a timer of its own, at a CPU cost per byte a LAN does not need",
		ptr: func(c *Config) any { return &c.TCPCongestion }},
	{key: "HTTP_TRUST_QUERY_MAC", long: "http-trust-query-mac", kind: kBool, ours: true,
		help: "let ?mac= name a client the lease table does not know (proxy mode hosts/ scripts); anyone can then claim any MAC",
		ptr:  func(c *Config) any { return &c.HTTPTrustQueryMAC }},
	{key: "HTTP_STATUS_HOSTS", long: "http-status-hosts", kind: kString, ours: true,
		help: "comma-separated host names the dashboard, /api and /metrics also answer to (besides the box's addresses and localhost)",
		ptr:  func(c *Config) any { return &c.HTTPStatusHosts }},
	{key: "HTTP_LIST_DIRS", long: "http-list-dirs", kind: kBool, ours: true,
		help: "HTML listings of netboot directories over HTTP",
		ptr:  func(c *Config) any { return &c.HTTPListDirs }},
	{key: "TFTP_TIMEOUT", long: "tftp-timeout", kind: kDur, ours: true,
		help: "first TFTP retransmission timeout when the client asks for none (doubles per retry); 10ms-255s, written 1s, 500ms or seconds",
		ptr:  func(c *Config) any { return &c.TFTPTimeout }},
	{key: "TFTP_RETRIES", long: "tftp-retries", kind: kInt, ours: true,
		help: "TFTP retransmissions of one packet before the transfer is abandoned (1-100)",
		ptr:  func(c *Config) any { return &c.TFTPRetries }},
	{key: "TFTP_IDLE_TIMEOUT", long: "tftp-idle-timeout", kind: kDur, ours: true,
		help: "drop a TFTP transfer that made no progress this long (1s-1h)",
		ptr:  func(c *Config) any { return &c.TFTPIdleTimeout }},

	{key: "IFACE", long: "iface", kind: kString, ours: true,
		help: "boot-network interface (default: the first wired interface with a carrier)",
		ptr:  func(c *Config) any { return &c.Iface }},
	{key: "BOOT_MAP", long: "boot-map", kind: kString, ours: true,
		help: "JSON file mapping option 93 architectures to boot files ({\"7\": \"snponly.efi\"}); reloaded on SIGHUP",
		ptr:  func(c *Config) any { return &c.BootMap }},
	{key: "PROFILES", long: "profiles", kind: kString, ours: true,
		help: "JSON machine profiles file for the generated boot menus (default entry, timeout, kernel arguments per MAC, " +
			"prefix, architecture or group); reloaded on SIGHUP",
		ptr: func(c *Config) any { return &c.Profiles }},
	{key: "IMAGES_RESCAN", long: "images-rescan", kind: kDur, ours: true,
		help: "how often <netboot>/images/ is re-scanned for new or changed images (1s-1h; SIGHUP re-scans at once)",
		ptr:  func(c *Config) any { return &c.ImagesRescan }},
	{key: "STATE_DIR", long: "state-dir", kind: kString, ours: true,
		help: "directory for the lease journal and snapshot, boot-once settings and the dashboard write token",
		ptr:  func(c *Config) any { return &c.StateDir }},
	{key: "RUN_AS", long: "user", kind: kString, ours: true,
		help: "started as root: run as this user once the interface is set up, with only the three capabilities kept (the state directory is handed to it)",
		ptr:  func(c *Config) any { return &c.RunAs }},
	{key: "LOG_FORMAT", long: "log-format", kind: kString, ours: true,
		help: "log format: text or json",
		ptr:  func(c *Config) any { return &c.LogFormat }},
}

var byKey = func() map[string]*setting {
	m := map[string]*setting{}
	for _, s := range settings {
		m[s.key] = s
		for _, a := range s.aliases {
			m[a] = s
		}
	}
	return m
}()

// flagName is how errors name a setting: "--dhcp-begin (DHCP_OFFER_BEGIN)".
func (s *setting) flagName() string {
	n := "--" + s.long
	if s.short != "" {
		n = "-" + s.short + "/" + n
	}
	return n + " (" + s.key + ")"
}

// setString sets the field from a command-line value.
func (s *setting) setString(c *Config, v string) error {
	switch p := s.ptr(c).(type) {
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", s.flagName(), v)
		}
		*p = b
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s: %q is not a whole number", s.flagName(), v)
		}
		*p = n
	case *netip.Addr:
		v = strings.TrimSpace(v)
		if v == "" && s.kind == kOptAddr {
			*p = netip.Addr{}
			return nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%s: %q is not an IPv4 address (write it like 192.168.2.2)", s.flagName(), v)
		}
		*p = a
	case *time.Duration:
		d, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration (write 1s, 500ms or a number of seconds)", s.flagName(), v)
		}
		*p = d
	case *[]netip.Addr:
		var l []netip.Addr
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil || !a.Is4() {
				return fmt.Errorf("%s: %q is not an IPv4 address (write a list like 8.8.8.8,1.1.1.1)", s.flagName(), f)
			}
			l = append(l, a)
		}
		*p = l
	default:
		panic("config: setting " + s.key + " has an unknown field type")
	}
	return nil
}

// value returns the field as it appears in a PyPXE JSON file.
func (s *setting) value(c *Config) any {
	switch p := s.ptr(c).(type) {
	case *bool:
		return *p
	case *string:
		if s.key == "SYSLOG_SERVER" && *p == "" {
			return nil // PyPXE's default is null
		}
		return *p
	case *int:
		return *p
	case *netip.Addr:
		if !p.IsValid() {
			return ""
		}
		return p.String()
	case *[]netip.Addr:
		return dnsString(*p)
	case *time.Duration:
		return p.String()
	}
	return nil
}

// parseDuration reads a Go duration ("1.5s", "500ms") or a plain number of seconds ("2").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > 1e9 {
			return 0, fmt.Errorf("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

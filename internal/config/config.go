// Package config turns PyPXE-compatible command-line flags and PyPXE JSON configuration files
// into one validated Config. PyPXE's flag names, short flags and JSON keys (USE_DHCP,
// DHCP_OFFER_BEGIN, NETBOOT_DIR, …) keep their meaning, so a PyPXE user's command line and
// JSON file work unchanged; pxe-edge adds a few settings of its own (--iface, --dhcp-auto,
// --state-dir, --tftp-max, …), each with a JSON key in the same style.
//
// Precedence, lowest first: built-in defaults (PyPXE's), the --config JSON file, flags on the
// command line. Validation errors name the setting (flag and JSON key) and say how to fix it;
// the command exits with status 2 for any of them.
package config

import (
	"net/netip"
	"strings"
	"time"
)

// DHCPMode says whether and how pxe-edge answers DHCP. The zero value serves no DHCP at all:
// pxe-edge never starts a DHCP server unless --dhcp, --dhcp-proxy or --dhcp-auto (or the JSON
// equivalents) ask for one.
type DHCPMode int

// DHCP modes.
const (
	DHCPOff   DHCPMode = iota // no DHCP (PyPXE's default)
	DHCPFull                  // full DHCP server handing out addresses from the pool (--dhcp)
	DHCPProxy                 // ProxyDHCP: boot information only, another server gives addresses (--dhcp-proxy)
	DHCPAuto                  // proxy when another DHCP server answers on the link, full otherwise (--dhcp-auto)
)

// String returns the mode's name as logs and the status API show it.
func (m DHCPMode) String() string {
	switch m {
	case DHCPFull:
		return "full"
	case DHCPProxy:
		return "proxy"
	case DHCPAuto:
		return "auto"
	}
	return "off"
}

// Config is the effective configuration. Field comments name the PyPXE JSON key and flag.
type Config struct {
	// Services.
	UseIPXE   bool // USE_IPXE, --ipxe/--no-ipxe: chainload iPXE first
	UseHTTP   bool // USE_HTTP, --http/--no-http: serve NetbootDir over HTTP
	UseTFTP   bool // USE_TFTP, --tftp/--no-tftp: serve NetbootDir over TFTP (on by default)
	UseDHCP   bool // USE_DHCP, --dhcp: full DHCP server
	DHCPProxy bool // DHCP_MODE_PROXY, --dhcp-proxy: ProxyDHCP (implies USE_DHCP, as in PyPXE)
	DHCPAuto  bool // DHCP_MODE_AUTO, --dhcp-auto (ours): proxy if another server answers, else full

	ModeDebug   string // MODE_DEBUG, --debug: services to log at debug level ("tftp,dhcp", "all,-dhcp")
	ModeVerbose string // MODE_VERBOSE, --verbose: services to log verbosely

	StaticConfig string // STATIC_CONFIG, --static-config: PyPXE static lease (reservation) JSON file
	LeasesFile   string // LEASES_FILE, --save-leases: PyPXE lease file, loaded at start, saved on exit/SIGHUP
	SyslogServer string // SYSLOG_SERVER, --syslog: send logs to this syslog host over UDP
	SyslogPort   int    // SYSLOG_PORT, --syslog-port

	// DHCP.
	DHCPServerIP   netip.Addr // DHCP_SERVER_IP, -s/--dhcp-server-ip: our address on the boot network
	DHCPServerPort int        // DHCP_SERVER_PORT, -p/--dhcp-server-port
	DHCPBegin      netip.Addr // DHCP_OFFER_BEGIN, -b/--dhcp-begin: first pool address
	DHCPEnd        netip.Addr // DHCP_OFFER_END, -e/--dhcp-end: last pool address
	DHCPSubnet     netip.Addr // DHCP_SUBNET, -n/--dhcp-subnet: subnet mask (255.255.255.0)
	DHCPRouter     netip.Addr // DHCP_ROUTER, -r/--dhcp-router: option 3; invalid (zero) = none
	DHCPDNS        []netip.Addr
	DHCPBroadcast  string     // DHCP_BROADCAST, -c/--dhcp-broadcast: "" or "<broadcast>" = limited broadcast, else an address
	DHCPFileserver netip.Addr // DHCP_FILESERVER, -f/--dhcp-fileserver: next-server (siaddr, option 66)
	DHCPWhitelist  bool       // DHCP_WHITELIST, --dhcp-whitelist: answer only clients in STATIC_CONFIG

	// HTTP.
	HTTPPort     int        // HTTP_PORT, --http-port
	HTTPServerIP netip.Addr // HTTP_SERVER_IP, --http-server-ip
	HTTPStatus   bool       // HTTP_STATUS, --http-status (ours): dashboard, status API and metrics on the HTTP server

	// Files.
	NetbootDir  string // NETBOOT_DIR, -a/--netboot-dir
	NetbootFile string // NETBOOT_FILE, -i/--netboot-file; "" = chosen per client (see BootFile)

	// TFTP.
	TFTPPort          int        // TFTP_PORT, --tftp-port
	TFTPServerIP      netip.Addr // TFTP_SERVER_IP, --tftp-server-ip
	TFTPMax           int        // TFTP_MAX, --tftp-max (ours): concurrent transfers
	TFTPMaxPerClient  int        // TFTP_MAX_PER_CLIENT, --tftp-max-per-client (ours): 0 = TFTPMax/2, -1 = no cap
	TFTPQueue         int        // TFTP_QUEUE, --tftp-queue (ours): waiting requests, 0 = default, -1 = none
	TFTPWindowsizeMax int        // TFTP_WINDOWSIZE_MAX, --tftp-windowsize-max (ours): RFC 7440 cap

	// NBD (served when NBDBlockDevice is set).
	NBDBlockDevice string // NBD_BLOCK_DEVICE, --nbd: the default export's image
	NBDWrite       bool   // NBD_WRITE, --nbd-write
	NBDCow         bool   // NBD_COW, --nbd-cow
	NBDCowInMem    bool   // NBD_COW_IN_MEM, --nbd-cow-in-mem
	NBDCowMemMax   int    // NBD_COW_MEM_MAX, --nbd-cow-mem-max (ours): MiB of in-memory overlay per client
	NBDCopyToRAM   bool   // NBD_COPY_TO_RAM, --nbd-copy-to-ram
	NBDServerIP    string // NBD_SERVER_IP, --nbd-server
	NBDPort        int    // NBD_PORT, --nbd-port

	// Boot policy, HTTP and TFTP tuning (ours).
	IPXERA            bool          // IPXE_RA, --ipxe-ra/--no-ipxe-ra: answer iPXE clients' IPv6 router solicitations (ends iPXE's IPv6 wait)
	UsePi             bool          // USE_PI, --pi/--no-pi: recognise Raspberry Pis (off: they are treated as BIOS PXE clients)
	PiMenu            string        // PI_MENU, --pi-menu: option 43 menu text: auto, plain or three-spaces
	PiTFTPPrefix      string        // PI_TFTP_PREFIX, --pi-tftp-prefix: the Pis' EEPROM TFTP_PREFIX: "" serial, "mac", or a fixed string
	PiHTTPPath        string        // PI_HTTP_PATH, --pi-http-path: URL prefix of the Pi 4/5 HTTP boot (EEPROM HTTP_PATH)
	UBootFile         string        // UBOOT_FILE, --uboot-file: boot file U-Boot gets ("" = pxelinux.0)
	UBootConfigFile   string        // UBOOT_CONFIG_FILE, --uboot-config-file: option 209 for U-Boot ("" = not sent)
	SecureBoot        bool          // SECURE_BOOT, --secure-boot: every UEFI client is a Secure Boot machine (signed shim → GRUB, never iPXE)
	HTTPBootPath      string        // HTTP_BOOT_PATH, --http-boot-path: path or URL UEFI HTTP boot clients get ("" = iPXE EFI)
	HTTPMaxConns      int           // HTTP_MAX_CONNS, --http-max-conns: concurrent HTTP connections
	HTTPMaxPerClient  int           // HTTP_MAX_CONNS_PER_CLIENT, --http-max-conns-per-client: connections one address may hold
	TCPCongestion     string        // TCP_CONGESTION, --tcp-congestion: congestion control of HTTP and NBD connections; "system" = the kernel's
	HTTPTrustQueryMAC bool          // HTTP_TRUST_QUERY_MAC, --http-trust-query-mac: ?mac= names a client without a lease
	HTTPStatusHosts   string        // HTTP_STATUS_HOSTS, --http-status-hosts: extra Host names the dashboard answers, comma-separated
	HTTPListDirs      bool          // HTTP_LIST_DIRS, --http-list-dirs: HTML directory listings
	TFTPTimeout       time.Duration // TFTP_TIMEOUT, --tftp-timeout: first retransmission timeout
	TFTPRetries       int           // TFTP_RETRIES, --tftp-retries: retransmissions before a transfer is abandoned
	TFTPIdleTimeout   time.Duration // TFTP_IDLE_TIMEOUT, --tftp-idle-timeout: drop a transfer without progress this long

	// Ours.
	Iface        string        // IFACE, --iface: the boot-network interface; "" = first wired one with a carrier
	BootMap      string        // BOOT_MAP, --boot-map: option 93 architecture → boot file JSON, reloaded on SIGHUP
	Profiles     string        // PROFILES, --profiles: machine profiles JSON for the generated menus, reloaded on SIGHUP
	ImagesRescan time.Duration // IMAGES_RESCAN, --images-rescan: period of the images/ re-scan
	StateDir     string        // STATE_DIR, --state-dir: lease journal and snapshot
	RunAs        string        // RUN_AS, --user: drop to this user after set-up (root only)
	LogFormat    string        // LOG_FORMAT, --log-format: "text" or "json"
	SyslogFormat string        // SYSLOG_FORMAT, --syslog-format: "rfc5424" or "rfc3164"

	// ConfigFile is the --config file the values were loaded from ("" = none).
	ConfigFile string
	// Given records the JSON keys that were set explicitly, by the file or a flag; the daemon
	// uses it to tell "left at the default" from "asked for", e.g. for TFTP_SERVER_IP.
	Given map[string]bool

	cliNBD string // first NBD flag given on the command line, which needs --nbd FILE
}

// Defaults returns PyPXE's defaults plus ours: TFTP on, DHCP/HTTP/iPXE off, netboot dir
// "netboot", server 192.168.2.2 with a pool of .100–.150 in 192.168.2.0/24.
func Defaults() *Config {
	return &Config{
		UseTFTP:           true,
		SyslogPort:        514,
		DHCPServerIP:      netip.MustParseAddr("192.168.2.2"),
		DHCPServerPort:    67,
		DHCPBegin:         netip.MustParseAddr("192.168.2.100"),
		DHCPEnd:           netip.MustParseAddr("192.168.2.150"),
		DHCPSubnet:        netip.MustParseAddr("255.255.255.0"),
		DHCPRouter:        netip.MustParseAddr("192.168.2.1"),
		DHCPDNS:           []netip.Addr{netip.MustParseAddr("8.8.8.8")},
		DHCPFileserver:    netip.MustParseAddr("192.168.2.2"),
		HTTPPort:          80,
		HTTPServerIP:      netip.IPv4Unspecified(),
		NetbootDir:        "netboot",
		TFTPPort:          69,
		TFTPServerIP:      netip.IPv4Unspecified(),
		TFTPMax:           64,
		TFTPWindowsizeMax: 64,
		IPXERA:            true,
		UsePi:             true,
		PiMenu:            "auto",
		PiHTTPPath:        "net_install",
		HTTPMaxConns:      64,
		HTTPMaxPerClient:  8,
		TCPCongestion:     "cubic",
		TFTPTimeout:       time.Second,
		TFTPRetries:       5,
		TFTPIdleTimeout:   60 * time.Second,
		NBDCow:            true,
		NBDServerIP:       "0.0.0.0",
		NBDPort:           10809,
		NBDCowMemMax:      64,
		StateDir:          "/var/lib/pxe-edge",
		ImagesRescan:      10 * time.Second,
		HTTPStatus:        true,
		LogFormat:         "text",
		SyslogFormat:      "rfc5424",
		Given:             map[string]bool{},
	}
}

// Mode returns the DHCP mode the settings ask for. Auto wins over proxy, proxy over full
// (PyPXE: DHCP_MODE_PROXY implies USE_DHCP).
func (c *Config) Mode() DHCPMode {
	switch {
	case c.DHCPAuto:
		return DHCPAuto
	case c.DHCPProxy:
		return DHCPProxy
	case c.UseDHCP:
		return DHCPFull
	}
	return DHCPOff
}

// Prefix returns the server address with the prefix length of DHCP_SUBNET, e.g.
// 192.168.2.2/24: the address the interface needs.
func (c *Config) Prefix() netip.Prefix {
	bits, _ := maskBits(c.DHCPSubnet)
	return netip.PrefixFrom(c.DHCPServerIP, bits)
}

// BootFile returns PyPXE's boot file name when NETBOOT_FILE is empty: pxelinux.0 without
// iPXE, boot.ipxe with iPXE over TFTP, boot.http.ipxe with iPXE over HTTP.
func (c *Config) BootFile() string {
	switch {
	case c.NetbootFile != "":
		return c.NetbootFile
	case !c.UseIPXE:
		return "pxelinux.0"
	case !c.UseHTTP:
		return "boot.ipxe"
	}
	return "boot.http.ipxe"
}

// maskBits returns the prefix length of a contiguous IPv4 netmask.
func maskBits(m netip.Addr) (int, bool) {
	if !m.Is4() {
		return 0, false
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	// Contiguous: every bit after the first zero is zero.
	if n < 32 && v<<n != 0 {
		return n, false
	}
	return n, true
}

// dnsString renders the DNS list the way PyPXE's single DHCP_DNS string reads.
func dnsString(l []netip.Addr) string {
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

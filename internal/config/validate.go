package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// Validate checks the configuration as a whole and returns every problem at once, each naming
// the setting and the fix. Errors wrap ErrUsage.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, usageErr(format, args...)) }

	errs = append(errs, c.validateNBD()...)
	for _, p := range []struct {
		key string
		v   int
	}{{"DHCP_SERVER_PORT", c.DHCPServerPort}, {"HTTP_PORT", c.HTTPPort}, {"TFTP_PORT", c.TFTPPort}, {"SYSLOG_PORT", c.SyslogPort}} {
		if p.v < 1 || p.v > 65535 {
			bad("%s: port %d is out of range; use 1-65535", byKey[p.key].flagName(), p.v)
		}
	}
	if c.TFTPMaxPerClient < -1 || c.TFTPMaxPerClient > 10000 {
		bad("%s: %d; use -1 (no cap), 0 (half of --tftp-max) or 1-10000", byKey["TFTP_MAX_PER_CLIENT"].flagName(), c.TFTPMaxPerClient)
	}
	if c.TFTPQueue < -1 || c.TFTPQueue > 100000 {
		bad("%s: %d; use -1 (none), 0 (default) or 1-100000", byKey["TFTP_QUEUE"].flagName(), c.TFTPQueue)
	}
	if c.TFTPMax < 1 || c.TFTPMax > 10000 {
		bad("%s: %d transfers; use 1-10000", byKey["TFTP_MAX"].flagName(), c.TFTPMax)
	}
	if c.TFTPWindowsizeMax < 1 || c.TFTPWindowsizeMax > 65535 {
		bad("%s: %d; RFC 7440 allows 1-65535", byKey["TFTP_WINDOWSIZE_MAX"].flagName(), c.TFTPWindowsizeMax)
	}
	if !validCongestion(c.TCPCongestion) {
		bad("%s: %q is not an algorithm name; use one the kernel lists in net.ipv4.tcp_available_congestion_control (cubic, reno, bbr…) or 'system'",
			byKey["TCP_CONGESTION"].flagName(), c.TCPCongestion)
	}
	if c.HTTPMaxPerClient < 1 || c.HTTPMaxPerClient > 10000 {
		bad("%s: %d connections; use 1-10000", byKey["HTTP_MAX_CONNS_PER_CLIENT"].flagName(), c.HTTPMaxPerClient)
	}
	if c.HTTPMaxConns < 1 || c.HTTPMaxConns > 10000 {
		bad("%s: %d connections; use 1-10000", byKey["HTTP_MAX_CONNS"].flagName(), c.HTTPMaxConns)
	}
	if c.TFTPTimeout < 10*time.Millisecond || c.TFTPTimeout > 255*time.Second {
		bad("%s: %v; use 10ms-255s (RFC 2349 allows up to 255 s)", byKey["TFTP_TIMEOUT"].flagName(), c.TFTPTimeout)
	}
	if c.TFTPRetries < 1 || c.TFTPRetries > 100 {
		bad("%s: %d; use 1-100", byKey["TFTP_RETRIES"].flagName(), c.TFTPRetries)
	}
	if c.TFTPIdleTimeout < time.Second || c.TFTPIdleTimeout > time.Hour {
		bad("%s: %v; use 1s-1h", byKey["TFTP_IDLE_TIMEOUT"].flagName(), c.TFTPIdleTimeout)
	}
	switch c.PiMenu {
	case "auto", "plain", "three-spaces":
	default:
		bad("%s: %q; use auto, plain or three-spaces", byKey["PI_MENU"].flagName(), c.PiMenu)
	}
	if strings.Trim(c.PiHTTPPath, "/") == "" || strings.Contains(c.PiHTTPPath, "..") {
		bad("%s: %q; give a path inside the netboot directory such as net_install", byKey["PI_HTTP_PATH"].flagName(), c.PiHTTPPath)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("%s: %q; use text or json", byKey["LOG_FORMAT"].flagName(), c.LogFormat)
	}
	if c.SyslogFormat != "rfc5424" && c.SyslogFormat != "rfc3164" {
		bad("%s: %q; use rfc5424 or rfc3164", byKey["SYSLOG_FORMAT"].flagName(), c.SyslogFormat)
	}
	if _, err := ParseServices(c.ModeDebug); err != nil {
		bad("%s: %v", byKey["MODE_DEBUG"].flagName(), err)
	}
	if _, err := ParseServices(c.ModeVerbose); err != nil {
		bad("%s: %v", byKey["MODE_VERBOSE"].flagName(), err)
	}
	if c.UseTFTP || c.UseHTTP {
		if st, err := os.Stat(c.NetbootDir); err != nil {
			bad("%s: %v; create the directory or point --netboot-dir at the one holding your boot files", byKey["NETBOOT_DIR"].flagName(), err)
		} else if !st.IsDir() {
			bad("%s: %s is not a directory", byKey["NETBOOT_DIR"].flagName(), c.NetbootDir)
		}
	}
	if !c.UseTFTP && !c.UseHTTP && c.Mode() == DHCPOff && !c.NBD() {
		bad("--no-tftp (USE_TFTP=false) with no --http, no DHCP and no --nbd leaves nothing to serve; enable a service")
	}
	if c.DHCPWhitelist && c.StaticConfig == "" {
		bad("%s needs the allowed clients: give --static-config FILE (STATIC_CONFIG)", byKey["DHCP_WHITELIST"].flagName())
	}
	if c.StaticConfig != "" {
		if _, err := os.Stat(c.StaticConfig); err != nil {
			bad("%s: %v", byKey["STATIC_CONFIG"].flagName(), err)
		}
	}
	if c.BootMap != "" {
		if _, err := os.Stat(c.BootMap); err != nil {
			bad("%s: %v", byKey["BOOT_MAP"].flagName(), err)
		}
	}
	if c.Profiles != "" {
		// A bad profiles file is a start-up error (exit 2), like a bad flag; on SIGHUP the
		// daemon keeps the old profiles instead.
		if _, err := profiles.Load(c.Profiles); err != nil {
			bad("%s: %v", byKey["PROFILES"].flagName(), err)
		}
	}
	if c.ImagesRescan < time.Second || c.ImagesRescan > time.Hour {
		bad("%s: %v; use 1s-1h", byKey["IMAGES_RESCAN"].flagName(), c.ImagesRescan)
	}
	if c.Mode() != DHCPOff {
		errs = append(errs, c.validateDHCP()...)
	}
	return errors.Join(errs...)
}

func (c *Config) validateDHCP() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, usageErr(format, args...)) }
	bits, ok := maskBits(c.DHCPSubnet)
	if !ok || bits == 0 || bits > 30 {
		bad("%s: %v is not a usable netmask; use a contiguous mask from /1 to /30 such as 255.255.255.0", byKey["DHCP_SUBNET"].flagName(), c.DHCPSubnet)
		return errs
	}
	server := c.DHCPServerIP
	subnet := netip.PrefixFrom(server, bits).Masked()
	bcast := lastAddr(subnet)
	name := func(k string) string { return byKey[k].flagName() }
	if server == subnet.Addr() || server == bcast {
		bad("%s: %v is the network or broadcast address of %v; pick a host address", name("DHCP_SERVER_IP"), server, subnet)
	}
	if !c.DHCPFileserver.IsValid() || c.DHCPFileserver.IsUnspecified() {
		bad("%s: give the address clients fetch boot files from (usually the same as --dhcp-server-ip)", name("DHCP_FILESERVER"))
	}
	switch c.DHCPBroadcast {
	case "", "<broadcast>":
	default:
		if a, err := netip.ParseAddr(c.DHCPBroadcast); err != nil || !a.Is4() {
			bad("%s: %q is not an IPv4 address; leave it empty for 255.255.255.255", name("DHCP_BROADCAST"), c.DHCPBroadcast)
		}
	}
	if c.Mode() == DHCPProxy {
		// ProxyDHCP hands out no addresses: the pool, router and DNS are not used.
		return errs
	}
	fix := fmt.Sprintf("the pool must lie inside %v, the subnet of --dhcp-server-ip %v with --dhcp-subnet %v", subnet, server, c.DHCPSubnet)
	for _, k := range []string{"DHCP_OFFER_BEGIN", "DHCP_OFFER_END"} {
		a := *byKey[k].ptr(c).(*netip.Addr)
		if !subnet.Contains(a) {
			bad("%s: %v is outside the subnet; %s", name(k), a, fix)
		} else if a == subnet.Addr() || a == bcast {
			bad("%s: %v is the network or broadcast address of %v; start/end the pool inside it", name(k), a, subnet)
		}
	}
	if c.DHCPEnd.Less(c.DHCPBegin) {
		bad("%s %v comes after %s %v; swap them", name("DHCP_OFFER_BEGIN"), c.DHCPBegin, name("DHCP_OFFER_END"), c.DHCPEnd)
	} else if subnet.Contains(c.DHCPBegin) && !server.Less(c.DHCPBegin) && !c.DHCPEnd.Less(server) {
		bad("%s: %v lies inside the pool %v-%v; move the pool (-b/-e) or the server address so they do not overlap", name("DHCP_SERVER_IP"), server, c.DHCPBegin, c.DHCPEnd)
	}
	if c.DHCPRouter.IsValid() && !subnet.Contains(c.DHCPRouter) {
		bad("%s: %v is outside %v, so clients could not reach it; give a router inside the subnet or '' for none", name("DHCP_ROUTER"), c.DHCPRouter, subnet)
	}
	return errs
}

// lastAddr returns the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NBD reports whether the NBD service runs: it needs the default export's image.
func (c *Config) NBD() bool { return c.NBDBlockDevice != "" }

func (c *Config) validateNBD() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, usageErr(format, args...)) }
	name := func(k string) string { return byKey[k].flagName() }
	if !c.NBD() {
		if c.cliNBD != "" {
			bad("%s needs the image to serve: give --nbd FILE (NBD_BLOCK_DEVICE)", c.cliNBD)
		}
		return errs
	}
	if st, err := os.Stat(c.NBDBlockDevice); err != nil {
		bad("%s: %v", name("NBD_BLOCK_DEVICE"), err)
	} else if m := st.Mode(); !m.IsRegular() && (m&os.ModeDevice == 0 || m&os.ModeCharDevice != 0) {
		bad("%s: %s is neither a regular file nor a block device", name("NBD_BLOCK_DEVICE"), c.NBDBlockDevice)
	}
	if c.NBDPort < 1 || c.NBDPort > 65535 {
		bad("%s: port %d is out of range; use 1-65535", name("NBD_PORT"), c.NBDPort)
	}
	if _, err := netip.ParseAddr(c.NBDServerIP); err != nil {
		bad("%s: %q is not an IP address; use 0.0.0.0 for all", name("NBD_SERVER_IP"), c.NBDServerIP)
	}
	if c.NBDCowMemMax < 1 || c.NBDCowMemMax > 65536 {
		bad("%s: %d MiB; use 1-65536", name("NBD_COW_MEM_MAX"), c.NBDCowMemMax)
	}
	if c.NBDCowInMem && !c.NBDWrite {
		bad("%s keeps client writes, but without --nbd-write (NBD_WRITE) clients cannot write; add --nbd-write", name("NBD_COW_IN_MEM"))
	}
	return errs
}

// validCongestion reports whether name can be a kernel congestion control name (at most 15
// lower-case letters, digits and underscores); whether the kernel has it shows only when the
// daemon sets it.
func validCongestion(name string) bool {
	if name == "" || len(name) > 15 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

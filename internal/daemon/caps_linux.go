//go:build linux

package daemon

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capability is one Linux capability the daemon may need.
type capability struct {
	bit  int
	name string
	why  string
}

var (
	capNetAdmin       = capability{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN", "set the interface up and add the server address"}
	capNetBindService = capability{unix.CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE", "listen on ports below 1024"}
	capNetRaw         = capability{unix.CAP_NET_RAW, "CAP_NET_RAW", "answer DHCP on a raw (AF_PACKET) socket"}
)

// effectiveCaps reads the process's effective capability set with capget(2).
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// requireCaps returns an error naming every capability in need the process lacks, what it
// is for, and how to grant it.
func requireCaps(need ...capability) error {
	if len(need) == 0 {
		return nil
	}
	eff, err := effectiveCaps()
	if err != nil {
		return err
	}
	var miss []string
	for _, c := range need {
		if eff&(1<<uint(c.bit)) == 0 {
			miss = append(miss, fmt.Sprintf("%s (to %s)", c.name, c.why))
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("missing capability %s; run as root, or grant them: systemd AmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_NET_ADMIN, or `setcap cap_net_raw,cap_net_bind_service,cap_net_admin+ep %s`",
		strings.Join(miss, ", "), exe())
}

func exe() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "pxe-edge"
}

// unprivilegedPortStart is the lowest port binding without CAP_NET_BIND_SERVICE
// (net.ipv4.ip_unprivileged_port_start, 1024 unless changed).
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

//go:build !linux

package daemon

type capability struct {
	bit  int
	name string
	why  string
}

var (
	capNetAdmin       = capability{12, "CAP_NET_ADMIN", "set the interface up and add the server address"}
	capNetBindService = capability{10, "CAP_NET_BIND_SERVICE", "listen on ports below 1024"}
	capNetRaw         = capability{13, "CAP_NET_RAW", "answer DHCP on a raw socket"}
)

// requireCaps cannot check capabilities outside Linux; binding fails later with the system's
// own error.
func requireCaps(need ...capability) error { return nil }

func unprivilegedPortStart() int { return 1024 }

// dropPrivileges does nothing outside Linux.
func dropPrivileges(runAs, stateDir string) ([]string, error) { return nil, nil }

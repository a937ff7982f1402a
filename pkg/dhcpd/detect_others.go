//go:build !linux

package dhcpd

import (
	"context"
	"errors"
	"time"
)

// Detect needs Linux AF_PACKET sockets; elsewhere it returns an error.
func Detect(ctx context.Context, ifname string, timeout time.Duration) (DetectResult, error) {
	return DetectResult{}, errors.New("dhcpd: DHCP server detection needs Linux AF_PACKET sockets")
}

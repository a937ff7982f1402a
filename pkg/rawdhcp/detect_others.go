//go:build !linux

package rawdhcp

import (
	"context"
	"time"
)

// Detect needs Linux AF_PACKET sockets; elsewhere it returns an error.
func Detect(ctx context.Context, ifname string, timeout time.Duration) (DetectResult, error) {
	return DetectResult{}, opErr("detect")
}

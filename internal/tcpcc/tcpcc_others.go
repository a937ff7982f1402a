//go:build !linux

package tcpcc

import (
	"errors"
	"net"
)

func set(ln net.Listener, _ string) error {
	return &net.OpError{Op: "set congestion control", Net: "tcp", Addr: ln.Addr(), Err: errors.ErrUnsupported}
}

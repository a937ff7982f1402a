//go:build linux

package tcpcc

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func set(ln net.Listener, name string) error {
	opErr := func(err error) error {
		return &net.OpError{Op: "set congestion control", Net: "tcp", Addr: ln.Addr(), Err: err}
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return opErr(errors.New("not a TCP listener"))
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return opErr(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil {
		return opErr(err)
	}
	if serr != nil {
		return opErr(os.NewSyscallError("setsockopt", serr))
	}
	return nil
}

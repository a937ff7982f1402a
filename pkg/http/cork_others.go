//go:build !linux

package httpd

import "net"

// corker is Linux's TCP_CORK (cork_linux.go); elsewhere bodies go out uncorked.
type corker struct{}

func newCorker(net.Conn) *corker { return nil }
func (*corker) cork()            {}
func (*corker) uncork()          {}

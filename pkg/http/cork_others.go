//go:build !linux

package httpd

// cork and uncork are Linux's TCP_CORK (cork_linux.go); elsewhere bodies go out uncorked.
func (*connSock) cork()   {}
func (*connSock) uncork() {}

//go:build !linux

package httpd

import (
	"io"
	"net"
)

// rawSendfile is Linux's raw sendfile path (sendfile_linux.go); elsewhere file bodies take
// net's ReadFrom.
type rawSendfile struct{}

func newRawSendfile(net.Conn) *rawSendfile { return nil }

func (*rawSendfile) readFrom(io.Reader) (int64, bool, error) { return 0, false, nil }

//go:build !linux

package httpd

import "net"

// sendQueue is Linux-only (ioctl SIOCOUTQ). Elsewhere there is none, and progress counts
// the bytes handed to the kernel.
type sendQueue struct{}

func newSendQueue(net.Conn) *sendQueue { return nil }

func (*sendQueue) unacked() (int64, bool) { return 0, false }

//go:build !linux

package httpd

// sendQueue: the probe is Linux-only (ioctl SIOCOUTQ). Elsewhere there is none, and
// progress counts the bytes handed to the kernel.
func (*connSock) sendQueue() unackedProber { return nil }

// unacked cannot be asked here: file bodies keep the smallest sendfile piece (sock.go).
func (*connSock) unacked() (int64, bool) { return 0, false }

package rawdhcp

import (
	"errors"
	"fmt"
)

// ErrForeign is wrapped by read errors for well-formed packets that are not for this server:
// frames this host sent itself, frames addressed to other hosts, or BOOTP messages of the
// wrong kind for the port they arrived on.
var ErrForeign = errors.New("packet not for this server")

var (
	errOwnPacket = fmt.Errorf("rawdhcp: frame sent by this host: %w", ErrForeign)
	errOtherHost = fmt.Errorf("rawdhcp: frame for another host: %w", ErrForeign)
)

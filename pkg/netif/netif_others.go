//go:build !linux

package netif

import (
	"context"
	"log/slog"
	"net/netip"
)

// Iface is one managed interface; on this system it cannot be opened.
type Iface struct{}

// Open returns ErrUnsupported: interface management needs Linux netlink.
func Open(name string, prefix netip.Prefix, log *slog.Logger) (*Iface, error) {
	return nil, ErrUnsupported
}

// Name returns "".
func (i *Iface) Name() string { return "" }

// Added returns false.
func (i *Iface) Added() bool { return false }

// State returns ErrUnsupported.
func (i *Iface) State() (State, error) { return State{}, ErrUnsupported }

// Up returns ErrUnsupported.
func (i *Iface) Up() error { return ErrUnsupported }

// EnsureAddr returns ErrUnsupported.
func (i *Iface) EnsureAddr() (bool, error) { return false, ErrUnsupported }

// RemoveAddr returns ErrUnsupported.
func (i *Iface) RemoveAddr() error { return ErrUnsupported }

// Watch returns ErrUnsupported.
func (i *Iface) Watch(ctx context.Context, fn func(Event)) error { return ErrUnsupported }

// DefaultName returns ErrUnsupported.
func DefaultName() (string, error) { return "", ErrUnsupported }

// Package board holds the board and delivery smoke tests: the cross-built binaries are
// reproducible and free of build paths, run under qemu-user-static (arm64, armv6, armv7) and
// serve TFTP there; the .deb packages are lintian-clean and install into a debootstrap tree
// with every file where the systemd unit expects it; the Pi install script does the same; the
// unit passes `systemd-analyze verify`; and `make demo` boots a QEMU guest end to end.
//
// The package has no code of its own: everything is in the tests. Tests that need root or a
// tool skip outside CI (CI=true makes them fail), via internal/netlab's Require helpers.
package board

// Command pxe-edge is a portable PXE boot server: DHCP (full, proxy or auto) on raw sockets,
// TFTP and HTTP, in one static binary. This file is a placeholder until the command issue
// wires the services.
package main

import (
	"fmt"
	"os"
)

// version is stamped by the Makefile (-X main.version=…).
var version = "dev"

func main() {
	fmt.Fprintln(os.Stderr, "pxe-edge", version, ": not wired yet")
	os.Exit(1)
}

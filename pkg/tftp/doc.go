// Package tftp is pxe-edge's read-only TFTP server (RFC 1350) with option negotiation
// (RFC 2347 blksize/tsize/timeout, RFC 2348, RFC 2349) and windowed transfers (RFC 7440),
// written for what PXE firmware actually does (see docs/DESIGN.md and the field guide).
//
// Files come from a FileSource, so callers can serve a directory (NewDirSource), generated
// files or per-client roots without touching the transfer engine. Each transfer runs on its
// own UDP socket bound to the address the request arrived on and, on Linux, connected to the
// client (a second socket on the same port answers other senders with ERROR 5), with one
// packet buffer taken from a pool sized when the server starts. Lock-step transfers read up to 16 KiB of
// blocks ahead into that buffer with one ReadAt; windows are laid out in it for one
// segmented send; retransmissions of blocks no longer in it re-read the file with ReadAt.
// The steady-state send path makes no heap allocations.
//
// Load never turns into an ERROR, which PXE firmware would take as a failed boot: a request
// beyond MaxTransfers or its client address's MaxPerClient waits in a bounded queue (one
// entry per client transfer id and file, repeats absorbed) and starts when a slot frees; a
// request that finds the queue full goes unanswered, so its client retransmits it. Every
// wait of a transfer is bounded by IdleTimeout, whatever timeout the client asked for.
package tftp

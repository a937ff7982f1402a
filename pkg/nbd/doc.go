// Package nbd is a Network Block Device server (the NBD protocol's fixed newstyle handshake
// and simple replies) for diskless clients: an image file or block device served read-only,
// written through (one writer at a time), or behind a copy-on-write overlay per client kept
// on disk (a bitmap and a sparse file, surviving restarts) or in memory (capped).
//
// The package is layered: codec.go parses and encodes the wire format on bytes only;
// handshake.go, transmit.go and reply.go do a connection's I/O; exports.go, store.go,
// overlay.go and memoverlay.go hold the storage. Structured replies, TLS, block status and
// NBD_CMD_CACHE are not offered; clients fall back to simple replies as the protocol asks.
package nbd

// Package lease is pxe-edge's crash-safe DHCP lease store: an in-memory index (by MAC and by
// address) backed by a human-readable journal and snapshot in a state directory.
//
// The DHCP server keeps its pool logic; this package only remembers who holds what and
// makes that durable. [Store.Commit] returns after the record is on disk (written and
// fdatasync'ed), so a server that commits before it ACKs never hands out an address it
// would forget in a power cut. Concurrent commits share one write and one fdatasync (group
// commit): a single writer goroutine takes every record queued while the previous sync ran.
// Renewals that only extend an expiry go through [Store.Touch], which does not wait: touches
// ride along with the next commit batch or are flushed at most [Options.FlushInterval]
// (default 30 s) or [Options.MaxPendingTouches] (default 256) records later, whichever
// comes first. That is the loss window: a power cut can roll back the expiry of leases
// renewed in the last FlushInterval to their previous value; it never moves or drops a lease.
//
// # Files
//
// The state directory holds two files, both UTF-8 text, one record per line, fields
// separated by a tab:
//
//	leases.snap   full copy of the table: "snapshot <gen>", one "lease" line per lease, "end <n>"
//	leases.log    journal appended since that snapshot: "journal <gen>", then lease/touch/del
//	lock          empty; held with flock(2) while a Store is open, so two processes never share it
//
// Every record line starts with the CRC-32C (Castagnoli) of the rest of the line in 8 hex
// digits, so a torn or corrupted line is detected and skipped on load. Lines starting with
// '#' are comments for people reading the file. The records are:
//
//	crc  lease  <ip> <mac> <state> <expiry> <hostname> <client-id>
//	crc  touch  <ip> <mac> <expiry>
//	crc  del    <ip>
//	crc  snapshot <gen> / journal <gen> / end <count>
//
// <mac> is colon-separated hex (empty for a decline with no owner), <state> one of offered,
// bound, declined, released, <expiry> RFC 3339 UTC to the second (empty: never expires),
// <hostname> with bytes outside '!'..'~' and '%' written as %XX, <client-id> plain hex.
//
// A journal whose generation is not newer than the snapshot's is already contained in it and
// is ignored; that is what makes compaction crash-safe: write leases.snap.tmp, fsync, rename
// over leases.snap, fsync the directory, then start a new journal the same way. A crash at
// any point leaves either the old snapshot with its journal or the new snapshot (with the old
// journal ignored, or the new empty one).
//
// [Open] never fails because a file is damaged: it loads every valid record, reports what
// it skipped in a [LoadReport], keeps a copy of the damaged file as *.damaged, and writes a
// clean snapshot. It fails only on I/O errors it cannot get past (directory not writable,
// another process holding the store).
package lease

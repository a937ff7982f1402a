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
// clean snapshot. It fails only when it cannot create the directory or its lock file, cannot
// read the files, or another process holds the store.
//
// # A full disk
//
// A write or sync that fails (ENOSPC, EDQUOT, EIO, …) refuses its whole batch and anything
// queued behind it: their records are taken back out of memory (an undo log kept per batch),
// the journal is truncated to the size of its last successful sync, and every waiting caller
// gets an error wrapping [ErrFailed], and [ErrNoSpace] when the disk or quota is full.
// Nothing acknowledged is lost: it was synced before it was acknowledged, and the truncation
// only cuts what was not. The store is then degraded ([Store.Health]):
//
//   - commits are refused at once, without touching the disk, until the next retry is due
//     (Options.RetryInterval/16 after the failure, doubling up to RetryInterval, 5 s);
//   - the next retry (taken by a commit that arrives after it is due, or by the store itself
//     when none does) never appends to the old journal: after a failed fdatasync the kernel
//     may have dropped the unwritten pages and marked them clean, so what the journal holds
//     past the last good sync is unknown. It writes the whole table as a new snapshot
//     (temporary file, fsync, rename, fsync of the directory) and starts a new journal, the
//     way compaction does. That needs room for one snapshot; until there is, the store stays
//     degraded. When it succeeds, commits are durable again; no reopen is needed;
//   - reads (Get, ByIP, All, Expired) serve every acknowledged lease, and [Store.Touch]
//     keeps renewing known leases in memory. Those new expiries reach the disk with the
//     snapshot that ends the degraded period; a crash before that rolls them back, as a
//     power cut does with any touch.
//
// [Open] on a disk where it cannot write (a full disk and a journal ending in a torn line
// both need a rewrite) loads every valid record and returns a store that is degraded from
// the start: it serves reads and renewals, refuses commits, and writes nothing until a retry
// succeeds. Two double faults are not covered: if the truncation after a failed write fails
// as well, or a retry's snapshot is renamed into place but the directory sync after it
// fails, the refused records stay on disk until the next successful retry replaces them,
// and a crash before that reloads them, as it would a commit that was in flight.
package lease

package nbd

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A system call made the usual way tells the runtime, which hands the goroutine's P to
// another thread when the call outlasts a sysmon tick. With one P (a one-CPU board, a
// cgroup of one CPU) every splice of a long READ reply lasts that long, and each hand-over
// costs a futex wake and context switches while gaining nothing, because the call does not
// sleep. The calls here are made raw, and only when they cannot sleep: a pipe of page-cache
// pages into a non-blocking socket, or file pages into the pipe once cachestat(2) has found
// them all in memory. Figures: docs/bench/nbd.md.

// spliceRaw is splice(2) as a raw system call; the caller guarantees it cannot sleep.
func spliceRaw(in int, inOff *int64, out int, n int, flags int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), uintptr(unsafe.Pointer(inOff)), uintptr(out), 0,
		uintptr(n), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// noCachestat is set once the kernel lacks cachestat(2) (before Linux 6.5).
var noCachestat atomic.Bool

var pageSize = int64(os.Getpagesize())

// pagesCached reports whether every page of fd's range [off, off+n) is in the page cache, so
// reading it cannot wait for the disk. False when it cannot tell. A page evicted between this
// call and the read makes that one read wait with the P held: rare, and one read long.
func pagesCached(fd int, off, n int64) bool {
	if n <= 0 || noCachestat.Load() {
		return false
	}
	rng := unix.CachestatRange{Off: uint64(off), Len: uint64(n)}
	var st unix.Cachestat_t
	_, _, e := unix.RawSyscall6(unix.SYS_CACHESTAT, uintptr(fd), uintptr(unsafe.Pointer(&rng)),
		uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	if e != 0 {
		if e == unix.ENOSYS {
			noCachestat.Store(true)
		}
		return false
	}
	pages := (off+n+pageSize-1)/pageSize - off/pageSize
	return st.Cache >= uint64(pages)
}

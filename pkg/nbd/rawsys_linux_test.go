package nbd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The raw splice into the pipe is taken only when cachestat(2) finds every page of the range
// in memory: pages dropped from the cache must make pagesCached false, and reading them back
// must make it true.
func TestPagesCached(t *testing.T) {
	var rng unix.CachestatRange
	var st unix.Cachestat_t
	if err := unix.Cachestat(0, &rng, &st, 0); errors.Is(err, unix.ENOSYS) {
		if os.Getenv("CI") == "true" {
			t.Fatal("the kernel has no cachestat(2) (Linux 6.5+): the raw path cannot be tested")
		}
		t.Skip("the kernel has no cachestat(2) (Linux 6.5+)")
	}
	path := filepath.Join(t.TempDir(), "img")
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if _, err := f.ReadAt(make([]byte, len(data)), 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 1 << 20}, {100, 5000}, {4095, 2}, {1<<20 - 1, 1}} {
		if !pagesCached(fd, r[0], r[1]) {
			t.Errorf("pagesCached(%d, %d) = false after reading the whole file", r[0], r[1])
		}
	}
	if pagesCached(fd, 0, 0) {
		t.Error("an empty range counts as cached")
	}
	// Drop the pages: clean pages of a file on disk go; a file system that keeps files in
	// memory (tmpfs) cannot drop them, and then the second half says nothing.
	if err := unix.Fdatasync(fd); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if err := unix.Cachestat(uint(fd), &unix.CachestatRange{Off: 0, Len: 1 << 20}, &st, 0); err != nil {
		t.Fatal(err)
	}
	if st.Cache != 0 {
		t.Skipf("the file system kept %d pages after FADV_DONTNEED (tmpfs?)", st.Cache)
	}
	if pagesCached(fd, 0, 1<<20) || pagesCached(fd, 8192, 100) {
		t.Error("pagesCached = true for dropped pages")
	}
	if _, err := f.ReadAt(make([]byte, 4096), 8192); err != nil {
		t.Fatal(err)
	}
	if !pagesCached(fd, 8192, 4096) {
		t.Error("pagesCached = false for a page just read")
	}
	if pagesCached(fd, 0, 3*4096) {
		t.Error("pagesCached = true for a range with dropped pages")
	}
}

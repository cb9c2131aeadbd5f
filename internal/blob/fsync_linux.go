package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData makes a file's data durable. fdatasync skips the timestamps
// fsync would also write; the size, which a reader needs, is still synced.
func syncData(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}

// dropCache tells the kernel the given range of a durably written file will
// not be read soon, so a large push does not evict what pulls are using
// from the page cache.
func dropCache(f *os.File, off, n int64) {
	unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

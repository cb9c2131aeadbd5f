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

// dropCache tells the kernel a durably written range will not be read soon,
// so uploads do not fill the page cache with layers written once (which
// recentWrites bounds, keeping only the latest).
func dropCache(f *os.File, off, n int64) {
	unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

const readAheadSupported = true

// readAhead asks the kernel to start reading a range into the page cache
// without waiting for it.
func readAhead(f *os.File, off, n int64) {
	unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
}

// keepWrittenBudget is how many recently written upload bytes stay in the
// page cache: a sixteenth of the machine's memory, at most 1 GiB, so a
// pull right after a push of a few layers reads memory, not the disk.
func keepWrittenBudget() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return min(int64(si.Totalram)*int64(si.Unit)/16, 1<<30)
}

// startWriteback starts writing a range's dirty pages to the disk without
// waiting for them; the fdatasync that follows waits for what is left.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

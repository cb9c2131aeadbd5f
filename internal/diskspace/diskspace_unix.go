//go:build unix

package diskspace

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	errNoSpace error = syscall.ENOSPC
	errQuota   error = syscall.EDQUOT
)

// Stat reports the free space and size of the filesystem holding path.
// Free counts only what an unprivileged writer may use (blocks kept for
// root are left to the system).
func Stat(path string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return Usage{Free: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs}, nil
}

// allocated is the space a file takes on disk, which is what releasing it
// gives back (a sparse file takes less than its size).
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(int64(st.Blocks)*512, fi.Size())
	}
	return fi.Size()
}

// writeZeros allocates f up to size bytes by writing zeros where the
// filesystem cannot preallocate (a sparse file would hold nothing back).
func writeZeros(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for off := allocated(fi); off < size; {
		n, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
		off += int64(n)
		if err != nil && err != io.ErrShortWrite {
			return err
		}
	}
	return f.Sync()
}

package diskspace

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate makes f hold size bytes of allocated space: fallocate where
// the filesystem has it, else zeros written out.
func preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil || !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	return writeZeros(f, size)
}

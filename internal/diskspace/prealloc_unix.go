//go:build unix && !linux

package diskspace

import "os"

// preallocate makes f hold size bytes of allocated space.
func preallocate(f *os.File, size int64) error { return writeZeros(f, size) }

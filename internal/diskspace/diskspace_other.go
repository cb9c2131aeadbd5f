//go:build !unix

package diskspace

import (
	"errors"
	"os"
)

var (
	errNoSpace = errors.New("no space left on device")
	errQuota   = errors.New("disk quota exceeded")
)

// ErrUnsupported is returned by Stat where free space cannot be measured.
var ErrUnsupported = errors.New("diskspace: free space cannot be measured on this system")

// Stat reports the free space and size of the filesystem holding path.
func Stat(string) (Usage, error) { return Usage{}, ErrUnsupported }

func allocated(fi os.FileInfo) int64 { return fi.Size() }

func preallocate(*os.File, int64) error { return ErrUnsupported }

package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a fresh directory, for tests of a
// full disk, and unmounts it when the test ends. Mounting needs root:
// without it the test skips (run the tests as root), or fails under CI.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("needs root to mount a small tmpfs: run the tests as root")
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		fail("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes a file at path until its filesystem is full, as another
// program sharing the disk would, and returns how many bytes it wrote. It
// stops at 1 GiB, failing the test, so a disk that is not small cannot
// make it run for long.
func FillDisk(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for range 1 << 14 {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("write filler: %v", err)
		}
	}
	t.Fatalf("filler wrote %d bytes without filling the disk", n)
	return n
}

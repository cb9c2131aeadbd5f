package testenv

import (
	"fmt"
	"os"
	"os/exec"
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

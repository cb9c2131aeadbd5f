package blob

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// TestRecentWritesPageCache pushes three blobs through a store that keeps
// two blobs' worth of written bytes in the page cache, and reads the
// kernel's residency of each committed file: the newest two stay cached,
// the oldest is dropped from the file it was renamed to.
func TestRecentWritesPageCache(t *testing.T) {
	const size = 1 << 20
	root := t.TempDir()
	fs, err := NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	fs.recent = newRecentWrites(2 * size)
	var paths []string
	for i := range 3 {
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		d := digest.FromBytes(data)
		id := "upload" + string(rune('a'+i))
		if _, _, err := fs.WriteUpload(context.Background(), id, nil, 0, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := fs.CommitUpload(context.Background(), id, nil, size, d); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, fs.blobPath(d))
	}
	for i, want := range []int{0, size / 4096, size / 4096} {
		if got := residentPages(t, paths[i]); got != want {
			t.Errorf("blob %d (%s): %d pages in the page cache, want %d", i, filepath.Base(paths[i]), got, want)
		}
	}
}

// residentPages counts the pages of the file at path in the page cache.
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

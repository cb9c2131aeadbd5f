package blob_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/blobtest"
)

var _ blob.Store = (*blob.Filesystem)(nil)

// newFilesystem returns a filesystem store wrapped so tests can drive
// uploads by id alone.
func newFilesystem(t *testing.T, root string) *blobtest.Tracker {
	t.Helper()
	s, err := blob.NewFilesystem(root)
	if err != nil {
		t.Fatalf("NewFilesystem(%q): %v", root, err)
	}
	return blobtest.Track(s)
}

func TestFilesystemConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newFilesystem(t, t.TempDir()).Store
	})
}

func commitBytes(t *testing.T, s *blobtest.Tracker, id string, data []byte, d digest.Digest) {
	t.Helper()
	n, err := s.WriteUpload(t.Context(), id, 0, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteUpload(%q) = %d, %v; want %d, nil", id, n, err, len(data))
	}
	if err := s.CommitUpload(t.Context(), id, int64(len(data)), d); err != nil {
		t.Fatalf("CommitUpload(%q, %s): %v", id, d, err)
	}
}

func TestFilesystemLayout(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			root := t.TempDir()
			s := newFilesystem(t, root)
			data := []byte("layout check for " + string(alg))
			d := alg.FromBytes(data)
			const id = "layout-upload"

			n, err := s.WriteUpload(t.Context(), id, 0, bytes.NewReader(data))
			if err != nil || n != int64(len(data)) {
				t.Fatalf("WriteUpload = %d, %v", n, err)
			}
			uploadFile := filepath.Join(root, "uploads", id[:2], id)
			if got, err := os.ReadFile(uploadFile); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("before commit, %s = %q, %v; want the upload's bytes", uploadFile, got, err)
			}
			if err := s.CommitUpload(t.Context(), id, int64(len(data)), d); err != nil {
				t.Fatalf("CommitUpload: %v", err)
			}

			if _, err := os.Lstat(uploadFile); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after commit, %s still exists (Lstat error %v)", uploadFile, err)
			}
			hex := d.Encoded()
			final := filepath.Join(root, "blobs", string(alg), hex[:2], hex)
			got, err := os.ReadFile(final)
			if err != nil {
				t.Fatalf("committed blob not at %s: %v", final, err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s = %q, want %q", final, got, data)
			}

			// Nothing else lies around: exactly one file under blobs/, none
			// under uploads/.
			files := regularFiles(t, root)
			if want := []string{final}; !slices.Equal(files, want) {
				t.Errorf("files under root after commit = %v, want %v", files, want)
			}
		})
	}
}

// regularFiles lists every non-directory under root, sorted.
func regularFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	slices.Sort(files)
	return files
}

// Open must hand out something net's sendfile recognises: a syscall.Conn
// over a regular file.
func TestFilesystemOpenServesWithSendfile(t *testing.T) {
	s := newFilesystem(t, t.TempDir())
	data := []byte("served with sendfile")
	d := digest.FromBytes(data)
	commitBytes(t, s, "file", data, d)
	c, _, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if _, ok := c.(syscall.Conn); !ok {
		t.Errorf("Open returned %T, want a syscall.Conn (so http.ServeContent can use sendfile)", c)
	}
}

// Large blobs read back intact: whole, after a seek (Range requests), and
// when closed halfway through.
func TestFilesystemLargeBlobReads(t *testing.T) {
	s := newFilesystem(t, t.TempDir())
	data := make([]byte, 3*(8<<20)+12345)
	for i := range data {
		data[i] = byte(i*31 + i>>13)
	}
	d := digest.FromBytes(data)
	commitBytes(t, s, "large", data, d)
	tests := []struct {
		name   string
		off, n int64
	}{
		{name: "whole", off: 0, n: int64(len(data))},
		{name: "from the middle", off: 13<<20 + 7, n: int64(len(data)) - (13<<20 + 7)},
		{name: "a range near the end", off: int64(len(data)) - 5000, n: 4000},
		{name: "closed halfway", off: 0, n: 9 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, size, err := s.Open(t.Context(), d)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			if size != int64(len(data)) {
				t.Fatalf("size %d, want %d", size, len(data))
			}
			if _, err := c.Seek(tt.off, io.SeekStart); err != nil {
				t.Fatalf("Seek: %v", err)
			}
			got := make([]byte, tt.n)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("ReadFull: %v", err)
			}
			if !bytes.Equal(got, data[tt.off:tt.off+tt.n]) {
				t.Fatalf("bytes at %d+%d differ from what was stored", tt.off, tt.n)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

func TestFilesystemReopen(t *testing.T) {
	root := t.TempDir()
	s := newFilesystem(t, root)
	data := []byte("survives a restart")
	d := digest.FromBytes(data)
	commitBytes(t, s, "reopen", data, d)
	if _, err := s.WriteUpload(t.Context(), "in-progress", 0, strings.NewReader("partial")); err != nil {
		t.Fatalf("WriteUpload: %v", err)
	}

	s2 := newFilesystem(t, root)
	if size, err := s2.Stat(t.Context(), d); err != nil || size != int64(len(data)) {
		t.Errorf("after reopen, Stat = %d, %v; want %d, nil", size, err, len(data))
	}
	if size, err := s2.UploadSize(t.Context(), "in-progress"); err != nil || size != int64(len("partial")) {
		t.Errorf("after reopen, UploadSize = %d, %v; want %d, nil", size, err, len("partial"))
	}
}

func TestFilesystemRejectsUnsafeUploadIDs(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "store")
	s := newFilesystem(t, root)
	// Files an escaping id would hit: root/escape (via uploads/../escape)
	// and parent/victim (via uploads/../../victim).
	victims := map[string][]byte{
		filepath.Join(root, "escape"):   []byte("escape victim"),
		filepath.Join(parent, "victim"): []byte("parent victim"),
	}
	for path, data := range victims {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte("must not land anywhere")
	d := digest.FromBytes(data)

	for _, id := range []string{
		"",
		"..",
		"../escape",
		"../../victim",
		"../../new-file",
		"a/b",
		"a/../../../victim",
		"/abs",
		"x/..",
		`..\victim`,
	} {
		t.Run(id, func(t *testing.T) {
			ctx := t.Context()
			if n, err := s.WriteUpload(ctx, id, 0, bytes.NewReader(data)); err == nil || n != 0 {
				t.Errorf("WriteUpload(%q) = %d, %v; want 0 and an error", id, n, err)
			}
			if _, err := s.UploadSize(ctx, id); err == nil {
				t.Errorf("UploadSize(%q) succeeded; want an error", id)
			}
			if rc, err := s.OpenUpload(ctx, id); err == nil {
				rc.Close()
				t.Errorf("OpenUpload(%q) succeeded; want an error", id)
			}
			if err := s.CommitUpload(ctx, id, 0, d); err == nil {
				t.Errorf("CommitUpload(%q) succeeded; want an error", id)
			}
			if err := s.CancelUpload(ctx, id); err == nil {
				t.Errorf("CancelUpload(%q) succeeded; want an error", id)
			}
		})
	}

	for path, want := range victims {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want it untouched (%q)", path, got, err, want)
		}
	}
	// Nothing new was written outside root/uploads, nor inside it.
	files := regularFiles(t, parent)
	want := []string{filepath.Join(parent, "victim"), filepath.Join(root, "escape")}
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("files after the rejected calls = %v, want only the victims %v", files, want)
	}
	if _, err := s.Stat(t.Context(), d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(%s) = %v; want blob.ErrNotFound", d, err)
	}
}

package registry

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/testenv"
)

// fixedSpace reports the same free space and reserve every time.
type fixedSpace struct{ free, reserve int64 }

func (s fixedSpace) Free() (int64, int64, error) { return s.free, s.reserve, nil }

// wantFull checks err is the refusal of a full storage.
func wantFull(t *testing.T, what string, err error) {
	t.Helper()
	e, ok := AsError(err)
	if !ok || e.Code != CodeInsufficientStorage {
		t.Fatalf("%s: %v, want %s", what, err, CodeInsufficientStorage)
	}
}

// TestBelowReserve refuses every write of new upload bytes below the
// reserve, with a message saying so, and lets through the commit of bytes
// that arrived already.
func TestBelowReserve(t *testing.T) {
	ctx := t.Context()
	r, _ := newTestRegistry(t, 0)
	data := bytes.Repeat([]byte("x"), 1000)
	d := digest.FromBytes(data)
	up, err := r.StartUpload(ctx, "repo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.PatchUpload(ctx, "repo", up.ID, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}

	r.opts.Space = fixedSpace{free: 3 << 20, reserve: 8 << 20}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"start", func() error { _, err := r.StartUpload(ctx, "repo"); return err }},
		{"patch", func() error { _, err := r.PatchUpload(ctx, "repo", up.ID, bytes.NewReader(data), -1); return err }},
		{"put with data", func() error {
			_, err := r.FinishUpload(ctx, "repo", up.ID, d, bytes.NewReader(data), -1)
			return err
		}},
		{"monolithic", func() error { _, err := r.PutBlob(ctx, "repo", d, bytes.NewReader(data)); return err }},
	} {
		err := tc.call()
		wantFull(t, tc.name, err)
		if e, _ := AsError(err); !strings.Contains(e.Message, "3.0 MiB left of the 8.0 MiB") || !strings.Contains(e.Message, "storage.reserve") {
			t.Errorf("%s: message does not say why: %q", tc.name, e.Message)
		}
	}
	if _, err := r.FinishUpload(ctx, "repo", up.ID, d, nil, -1); err != nil {
		t.Fatalf("commit of bytes already uploaded, below the reserve: %v", err)
	}
}

// TestDiskFullDropsChunk runs uploads into a real full disk with the reserve
// off: the store's ENOSPC becomes the 507 refusal, the failed chunk's bytes
// are given back at once, and the session stays where it was.
func TestDiskFullDropsChunk(t *testing.T) {
	ctx := t.Context()
	r, dir := newSmallDiskRegistry(t, func(string) Options { return Options{} })
	big := func() io.Reader { return io.LimitReader(neverEnding('z'), 8<<20) }

	up, err := r.StartUpload(ctx, "repo")
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte("a"), 1<<20)
	if _, err := r.PatchUpload(ctx, "repo", up.ID, bytes.NewReader(first), 0); err != nil {
		t.Fatal(err)
	}
	_, err = r.PatchUpload(ctx, "repo", up.ID, big(), 1<<20)
	wantFull(t, "chunk larger than the disk", err)
	if !errors.Is(err, blob.ErrFull) {
		t.Errorf("the refusal lost the store's reason: %v", err)
	}
	st, err := r.UploadStatus(ctx, "repo", up.ID)
	if err != nil || st.Offset != 1<<20 {
		t.Fatalf("after the failed chunk: offset %d, %v; want %d", st.Offset, err, 1<<20)
	}
	if n := uploadBytes(t, dir); n != 1<<20 {
		t.Errorf("upload files hold %d bytes after the failed chunk, want the %d recorded", n, 1<<20)
	}

	_, err = r.PutBlob(ctx, "repo", digest.FromString("whatever"), big())
	wantFull(t, "monolithic upload larger than the disk", err)
	if n := uploadBytes(t, dir); n != 1<<20 {
		t.Errorf("upload files hold %d bytes after the failed monolithic upload, want %d", n, 1<<20)
	}

	// The session resumes where it stood once there is room.
	rest := bytes.Repeat([]byte("b"), 1000)
	if _, err := r.PatchUpload(ctx, "repo", up.ID, bytes.NewReader(rest), 1<<20); err != nil {
		t.Fatalf("resuming after the failed chunk: %v", err)
	}
	d := digest.FromBytes(append(first, rest...))
	if _, err := r.FinishUpload(ctx, "repo", up.ID, d, nil, -1); err != nil {
		t.Fatalf("finishing after the failed chunk: %v", err)
	}
}

// statfsSpace reports a directory's real free space, with a fixed reserve.
type statfsSpace struct {
	dir     string
	reserve int64
}

func (s statfsSpace) Free() (int64, int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, s.reserve, nil
}

// TestStoreFullBelowReserve fills a real disk under a reserve of one
// byte, which the reserve's own look (every spaceCheckEvery bytes) all
// but never catches before the store does: the refusal still names the
// reserve, and still carries the store's reason.
func TestStoreFullBelowReserve(t *testing.T) {
	ctx := t.Context()
	r, dir := newSmallDiskRegistry(t, func(dir string) Options {
		return Options{Space: statfsSpace{dir: dir, reserve: 1}}
	})
	big := func() io.Reader { return io.LimitReader(neverEnding('z'), 8<<20) }
	up, err := r.StartUpload(ctx, "repo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"patch", func() error { _, err := r.PatchUpload(ctx, "repo", up.ID, big(), 0); return err }},
		{"monolithic", func() error { _, err := r.PutBlob(ctx, "repo", digest.FromString("whatever"), big()); return err }},
	} {
		err := tc.call()
		wantFull(t, tc.name, err)
		if e, _ := AsError(err); !strings.Contains(e.Message, "storage.reserve") {
			t.Errorf("%s: the refusal does not name the reserve: %q", tc.name, e.Message)
		}
		if !errors.Is(err, blob.ErrFull) {
			t.Errorf("%s: the refusal lost the store's reason: %v", tc.name, err)
		}
		if n := uploadBytes(t, dir); n != 0 {
			t.Errorf("%s: %d upload bytes left behind", tc.name, n)
		}
	}
}

// newSmallDiskRegistry returns a registry storing blobs on a new 4 MiB
// tmpfs, with the options opts gives for that directory, and the
// directory.
func newSmallDiskRegistry(t *testing.T, opts func(dir string) Options) (*Registry, string) {
	t.Helper()
	dir := testenv.SmallFS(t, 4<<20)
	md, err := meta.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	fs, err := blob.NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	return New(fs, md, opts(dir), slog.New(slog.DiscardHandler)), dir
}

// neverEnding is an endless stream of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// uploadBytes sums the sizes of the upload files under root.
func uploadBytes(t *testing.T, root string) int64 {
	t.Helper()
	var sum int64
	err := filepath.Walk(filepath.Join(root, "uploads"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			sum += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1536, "1.5 KiB"},
		{8 << 20, "8.0 MiB"},
		{5 << 40, "5.0 TiB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

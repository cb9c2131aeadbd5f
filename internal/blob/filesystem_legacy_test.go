package blob

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// writeLegacyBlob puts content where registry:2 keeps it under root.
func writeLegacyBlob(t *testing.T, root string, content []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(content)
	hex := d.Encoded()
	dir := filepath.Join(root, LegacyDir, "blobs", "sha256", hex[:2], hex)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFilesystemServesLegacyBlobsInPlace(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	fs, err := NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("registry:2 wrote these bytes")
	d := writeLegacyBlob(t, root, content)

	size, err := fs.Stat(ctx, d)
	if err != nil || size != int64(len(content)) {
		t.Fatalf("Stat = %d, %v; want %d", size, err, len(content))
	}
	rc, size, err := fs.Open(ctx, d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != string(content) || size != int64(len(content)) {
		t.Fatalf("Open read %q (%d)", got, size)
	}
	seen := map[digest.Digest]int{}
	if err := fs.Walk(ctx, func(w digest.Digest, _ int64) error { seen[w]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if seen[d] != 1 {
		t.Fatalf("Walk saw %s %d times, want once", d, seen[d])
	}
	files, err := fs.Files(ctx, LegacyDir+"/blobs")
	if want := "sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"; err != nil || len(files) != 1 || files[0] != want {
		t.Fatalf("Files = %v, %v; want [%s]", files, err, want)
	}
	if err := fs.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, d); err != ErrNotFound {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(fs.legacyBlobPath(d)); !os.IsNotExist(err) {
		t.Fatalf("legacy data file still there: %v", err)
	}
}

func TestFilesystemWalkReportsABlobInBothPlacesOnce(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	fs, err := NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("pushed again after the import")
	d := writeLegacyBlob(t, root, content)
	if _, _, err := fs.WriteUpload(ctx, "upload1", nil, 0, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := fs.CommitUpload(ctx, "upload1", nil, int64(len(content)), d); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := fs.Walk(ctx, func(digest.Digest, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Walk reported %d blobs, want 1", n)
	}
	if err := fs.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(ctx, d); err != ErrNotFound {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound (both copies gone)", err)
	}
}

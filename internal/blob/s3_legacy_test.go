package blob_test

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// TestS3ServesLegacyBlobsInPlace puts a blob where distribution's S3
// driver keeps it under the same root and checks the store serves, walks
// and deletes it there, and lists and reads the tree around it.
func TestS3ServesLegacyBlobsInPlace(t *testing.T) {
	e := s3TestEnv(t)
	root := freshRoot(t)
	ctx := t.Context()
	content := []byte("registry:2 wrote these bytes to the bucket")
	d := digest.FromBytes(content)
	key := blob.LegacyDir + "/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
	if err := newS3(t, e, root).Write(ctx, key, content); err != nil {
		t.Fatal(err)
	}
	// A store opened afterwards finds distribution's blobs at start.
	s := newS3(t, e, root)

	if size, err := s.Stat(ctx, d); err != nil || size != int64(len(content)) {
		t.Fatalf("Stat = %d, %v", size, err)
	}
	rc, _, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(content) {
		t.Fatalf("Open read %q, %v", got, err)
	}
	var walked []digest.Digest
	if err := s.Walk(ctx, func(w digest.Digest, _ int64) error { walked = append(walked, w); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(walked, []digest.Digest{d}) {
		t.Fatalf("Walk = %v, want [%s]", walked, d)
	}
	names, err := s.List(ctx, blob.LegacyDir+"/blobs/sha256")
	if err != nil || !slices.Equal(names, []string{d.Encoded()[:2]}) {
		t.Fatalf("List = %v, %v", names, err)
	}
	files, err := s.Files(ctx, blob.LegacyDir+"/blobs")
	if want := "sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"; err != nil || !slices.Equal(files, []string{want}) {
		t.Fatalf("Files = %v, %v; want [%s]", files, err, want)
	}
	if b, err := s.Read(ctx, key); err != nil || string(b) != string(content) {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if _, err := s.Read(ctx, key+"-missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Read of a missing key = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
}

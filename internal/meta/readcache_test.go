package meta_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// A manifest read by tag and a blob's size may be answered from memory,
// but never after a commit: made here by a second store on the same file
// (another wharf process) and by a plain SQL connection (any program).
func TestReadCacheSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	a := openSQLite(t, path)
	defer a.Close()
	b := openSQLite(t, path)
	defer b.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	const repo = "team/app"
	layer := digest.FromString("layer")
	if err := a.CommitBlob(ctx, repo, layer, 1234, "", nil); err != nil {
		t.Fatalf("CommitBlob: %v", err)
	}
	m1 := testManifest(t, "one", layer)
	m2 := testManifest(t, "two", layer)
	if err := a.PutManifest(ctx, repo, m1, "v1"); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	wantTag := func(step string, want *meta.Manifest) {
		t.Helper()
		for range 2 { // the second read is the one a cache would answer
			got, err := a.GetTaggedManifest(ctx, repo, "v1")
			switch {
			case want == nil && !errors.Is(err, meta.ErrNotFound):
				t.Fatalf("%s: GetTaggedManifest = %v, %v; want not found", step, got, err)
			case want != nil && (err != nil || got.Digest != want.Digest || string(got.Payload) != string(want.Payload)):
				t.Fatalf("%s: GetTaggedManifest = %v, %v; want %s", step, got, err, want.Digest)
			}
		}
	}
	wantSize := func(step string, want int64) {
		t.Helper()
		for range 2 {
			got, err := a.RepoBlobSize(ctx, repo, layer)
			switch {
			case want < 0 && !errors.Is(err, meta.ErrNotFound):
				t.Fatalf("%s: RepoBlobSize = %d, %v; want not found", step, got, err)
			case want >= 0 && (err != nil || got != want):
				t.Fatalf("%s: RepoBlobSize = %d, %v; want %d", step, got, err, want)
			}
		}
	}
	wantTag("first read", m1)
	wantSize("first read", 1234)

	if err := b.PutManifest(ctx, repo, m2, "v1"); err != nil {
		t.Fatalf("PutManifest from the second store: %v", err)
	}
	wantTag("tag moved by another store", m2)

	if _, err := raw.ExecContext(ctx, `UPDATE blobs SET size = 999 WHERE digest = ?`, layer.String()); err != nil {
		t.Fatal(err)
	}
	wantSize("size changed by plain SQL", 999)

	if _, err := raw.ExecContext(ctx, `DELETE FROM tags`); err != nil {
		t.Fatal(err)
	}
	wantTag("tags deleted by plain SQL", nil)

	if _, err := raw.ExecContext(ctx, `DELETE FROM repository_blobs`); err != nil {
		t.Fatal(err)
	}
	wantSize("link deleted by plain SQL", -1)
}

func testManifest(t *testing.T, name string, layer digest.Digest) *meta.Manifest {
	t.Helper()
	payload := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"n":"` + name + `"}}`)
	return &meta.Manifest{
		Digest:    digest.FromBytes(payload),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload:   payload,
		Refs:      []meta.Ref{{Digest: layer, Kind: meta.RefBlob}},
	}
}

package meta

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The cache is in use on SQLite (entries after a read), and a commit
// empties it at the next read.
func TestReadCacheFillsAndEmpties(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cache == nil {
		t.Fatal("no read cache on SQLite: the WAL index could not be mapped")
	}
	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, "r", layer, 10, "", nil); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"schemaVersion":2}`)
	m := &Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload: payload, Refs: []Ref{{Digest: layer, Kind: RefBlob}}}
	if err := s.PutManifest(ctx, "r", m, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTaggedManifest(ctx, "r", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RepoBlobSize(ctx, "r", layer); err != nil {
		t.Fatal(err)
	}
	if len(s.cache.manifests) != 1 || len(s.cache.blobSizes) != 1 {
		t.Fatalf("cache holds %d manifests and %d sizes after a read of each, want 1 and 1", len(s.cache.manifests), len(s.cache.blobSizes))
	}
	got, err := s.GetTaggedManifest(ctx, "r", "t")
	if err != nil || got.Digest != m.Digest {
		t.Fatalf("cached read = %v, %v", got, err)
	}
	got.Digest = "changed by the caller"
	if again, _ := s.GetTaggedManifest(ctx, "r", "t"); again.Digest != m.Digest {
		t.Fatal("a caller's change to a returned manifest reached the cache")
	}
	if err := s.CommitBlob(ctx, "r", digest.FromString("other"), 5, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTaggedManifest(ctx, "r", "t"); err != nil {
		t.Fatal(err)
	}
	if len(s.cache.blobSizes) != 0 {
		t.Fatal("a commit did not empty the cache")
	}
}

func TestReadCacheBudget(t *testing.T) {
	c := newReadCache(nil, 1000)
	tests := []struct {
		n        int
		want     bool
		wantUsed int
	}{
		{400, true, 400},
		{400, true, 800},
		{400, true, 400}, // full: starts over
		{1001, false, 400},
	}
	for i, tt := range tests {
		if got := c.reserveLocked(tt.n); got != tt.want || c.bytes != tt.wantUsed {
			t.Fatalf("step %d: reserve(%d) = %v with %d used, want %v with %d", i, tt.n, got, c.bytes, tt.want, tt.wantUsed)
		}
	}
}

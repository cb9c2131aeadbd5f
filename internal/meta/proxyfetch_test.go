package meta_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// TestProxyCacheQueries runs the pull-through cache's queries on both
// dialects: fetch leases, bytes under a prefix, least recently pulled.
func TestProxyCacheQueries(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *meta.SQL
	}{
		{"sqlite", func(t *testing.T) *meta.SQL {
			s := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(t *testing.T) *meta.SQL { return openPostgres(t, freshDatabase(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			testFetchLeases(t, s)
			testCacheUsage(t, s)
		})
	}
}

func testFetchLeases(t *testing.T, s *meta.SQL) {
	ctx := context.Background()
	steps := []struct {
		name  string
		do    func() (bool, error)
		claim bool
	}{
		{"first claim", func() (bool, error) { return s.ClaimFetch(ctx, "k", time.Minute) }, true},
		{"held", func() (bool, error) { return s.ClaimFetch(ctx, "k", time.Minute) }, false},
		{"other key", func() (bool, error) { return s.ClaimFetch(ctx, "k2", -time.Second) }, true},
		{"expired lease taken over", func() (bool, error) { return s.ClaimFetch(ctx, "k2", time.Minute) }, true},
		{"after release", func() (bool, error) {
			if err := s.ReleaseFetch(ctx, "k"); err != nil {
				return false, err
			}
			return s.ClaimFetch(ctx, "k", time.Minute)
		}, true},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.claim {
			t.Errorf("%s: claimed %t (%v), want %t", st.name, got, err, st.claim)
		}
	}
	if err := s.RenewFetch(ctx, "k", time.Minute); err != nil {
		t.Errorf("renew: %v", err)
	}
}

// commitBlob stores a blob row of size bytes (inline) linked to repo.
func commitBlob(t *testing.T, s *meta.SQL, repo string, content []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(content)
	if err := s.CommitInlineBlob(context.Background(), repo, d, content, ""); err != nil {
		t.Fatalf("commit blob: %v", err)
	}
	return d
}

func putImage(t *testing.T, s *meta.SQL, repo, tag string, blobs ...digest.Digest) digest.Digest {
	t.Helper()
	payload := []byte(repo + tag)
	m := &meta.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json", Payload: payload}
	for _, b := range blobs {
		m.Refs = append(m.Refs, meta.Ref{Digest: b, Kind: meta.RefBlob})
	}
	if err := s.PutManifestTags(context.Background(), repo, m, []string{tag}); err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	return m.Digest
}

func testCacheUsage(t *testing.T, s *meta.SQL) {
	ctx := context.Background()
	shared := commitBlob(t, s, "up.io/a", []byte("shared-----"))    // 11 bytes
	own := commitBlob(t, s, "up.io/a", []byte("own-a"))             // 5
	commitBlob(t, s, "up.io/b", []byte("shared-----"))              // linked again
	ownB := commitBlob(t, s, "up.io/b", []byte("own-b-bytes"))      // 11
	hosted := commitBlob(t, s, "up.iox/hosted", []byte("hosted-1")) // 8, a name sharing the prefix's text
	dirty := commitBlob(t, s, "up.io/b", []byte("unreferenced"))    // no manifest: not counted
	_ = dirty
	ma := putImage(t, s, "up.io/a", "1", shared, own)
	mb := putImage(t, s, "up.io/b", "1", shared, ownB)
	putImage(t, s, "up.iox/hosted", "1", hosted)

	if n, err := s.PrefixBytes(ctx, "up.io/"); err != nil || n != 11+5+11 {
		t.Errorf("PrefixBytes = %d, %v; want 27", n, err)
	}
	if n, err := s.LinkedBytes(ctx, []string{"up.io/"}, false); err != nil || n != 8 {
		t.Errorf("LinkedBytes outside = %d, %v; want 8", n, err)
	}
	if n, err := s.LinkedBytes(ctx, []string{"up.io/"}, true); err != nil || n != 11+5+11+12 {
		t.Errorf("LinkedBytes inside = %d, %v; want 39", n, err)
	}
	// b pulled after a was stored: a is the least recently pulled ...
	if err := s.TouchCached(ctx, "up.io/b", mb); err != nil {
		t.Fatal(err)
	}
	lru, err := s.LeastRecentlyPulled(ctx, "up.io/", 10)
	if err != nil || len(lru) != 2 || lru[0].Digest != ma || lru[0].Bytes != 16 || lru[1].Digest != mb {
		t.Fatalf("LeastRecentlyPulled = %+v, %v; want a (16 bytes) then b", lru, err)
	}
	// ... until a is pulled later than b.
	time.Sleep(5 * time.Millisecond)
	if err := s.TouchCached(ctx, "up.io/a", ma); err != nil {
		t.Fatal(err)
	}
	lru, err = s.LeastRecentlyPulled(ctx, "up.io/", 10)
	if err != nil || len(lru) != 2 || lru[0].Digest != mb {
		t.Errorf("after pulling a: %+v, %v; want b first", lru, err)
	}
	if err := s.ForgetCached(ctx, "up.io/a", ma); err != nil {
		t.Errorf("ForgetCached: %v", err)
	}
}

package meta_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/meta/metatest"
)

var _ meta.Store = (*meta.SQL)(nil)

func openSQLite(t *testing.T, path string) *meta.SQL {
	t.Helper()
	s, err := meta.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%q): %v", path, err)
	}
	return s
}

func TestSQLiteConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

type migrationRow struct {
	version   int
	appliedAt int64
}

// migrationRows reads schema_migrations straight from the database file,
// with the "sqlite" driver the meta package registers.
func migrationRows(t *testing.T, path string) []migrationRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

// TestSQLiteReopen checks that data survives closing and reopening the file,
// and that reopening does not apply any migration again. The migration list
// is unexported, so "all of them, once" is checked as: versions 1..N, each
// recorded once, unchanged (same applied_at) by later opens.
func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")

	s := openSQLite(t, path)
	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, "library/app", layer, 1234, "", nil); err != nil {
		t.Fatalf("CommitBlob: %v", err)
	}
	payload := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	m := &meta.Manifest{
		Digest:       digest.FromBytes(payload),
		MediaType:    "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json",
		Annotations:  []byte(`{"a":"b"}`),
		Payload:      payload,
		Refs:         []meta.Ref{{Digest: layer, Kind: meta.RefBlob}},
	}
	if err := s.PutManifest(ctx, "library/app", m, "v1"); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "up", Repo: "library/app"}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if err := s.AdvanceUpload(ctx, "up", 0, 77, []byte("state"), []byte("backend"), nil); err != nil {
		t.Fatalf("AdvanceUpload: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	first := migrationRows(t, path)
	if len(first) == 0 {
		t.Fatalf("schema_migrations is empty after the first open")
	}
	for i, r := range first {
		if r.version != i+1 {
			t.Fatalf("schema_migrations versions = %v, want 1..%d each once", first, len(first))
		}
	}

	time.Sleep(5 * time.Millisecond) // a re-applied migration would get a new applied_at
	for round := range 2 {
		s := openSQLite(t, path)
		if d, err := s.ResolveTag(ctx, "library/app", "v1"); err != nil || d != m.Digest {
			t.Errorf("reopen %d: ResolveTag = %s, %v; want %s", round, d, err, m.Digest)
		}
		got, err := s.GetManifest(ctx, "library/app", m.Digest)
		if err != nil {
			t.Errorf("reopen %d: GetManifest: %v", round, err)
		} else if string(got.Payload) != string(payload) || got.MediaType != m.MediaType ||
			got.ArtifactType != m.ArtifactType || string(got.Annotations) != string(m.Annotations) {
			t.Errorf("reopen %d: GetManifest = %+v, want %+v", round, got, m)
		}
		if size, err := s.RepoBlobSize(ctx, "library/app", layer); err != nil || size != 1234 {
			t.Errorf("reopen %d: RepoBlobSize = %d, %v; want 1234", round, size, err)
		}
		if u, err := s.GetUpload(ctx, "library/app", "up"); err != nil || u.Offset != 77 || string(u.HashState) != "state" {
			t.Errorf("reopen %d: GetUpload = %+v, %v; want offset 77, state \"state\"", round, u, err)
		}
		if repos, err := s.Repositories(ctx, "", -1); err != nil || !slices.Equal(repos, []string{"library/app"}) {
			t.Errorf("reopen %d: Repositories = %v, %v; want [library/app]", round, repos, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if again := migrationRows(t, path); !slices.Equal(again, first) {
			t.Errorf("reopen %d: schema_migrations = %v, want unchanged %v", round, again, first)
		}
	}
}

package meta_test

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// TestExportCoversSchema fails when a migration adds a table that a
// migration between stores would silently leave behind.
func TestExportCoversSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	openSQLite(t, path)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	known := append(meta.ExportTables(), "uploads", "schema_migrations", "repo_search", "events", "event_deliveries", "event_attempts",
		"proxy_fetches", "proxy_access")
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		// SQLite's FTS5 indexes of names, descriptions and tags and their
		// shadow tables: derived, and rebuilt by triggers as rows arrive.
		if strings.HasPrefix(name, "repositories_search") || strings.HasPrefix(name, "repo_search_fts") || strings.HasPrefix(name, "tags_search") {
			continue
		}
		if !slices.Contains(known, name) {
			t.Errorf("table %s is neither exported (meta.exportTables) nor left out on purpose (meta.notExported)", name)
		}
	}
}

// exportFixture fills s with a little of everything a migration copies.
func exportFixture(t *testing.T, s *meta.SQL) {
	t.Helper()
	ctx := t.Context()
	layer := digest.FromString("layer")
	if err := s.CommitBlob(ctx, "a/app", layer, 5, "", nil); err != nil {
		t.Fatal(err)
	}
	cfgBytes := []byte(`{"small":"config"}`)
	if err := s.CommitInlineBlob(ctx, "a/app", digest.FromBytes(cfgBytes), cfgBytes, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitInlineBlob(ctx, "b/other", digest.FromBytes(nil), []byte{}, ""); err != nil {
		t.Fatal(err)
	}
	img := &meta.Manifest{Digest: digest.FromString("img"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json", Payload: []byte(`{"img":1}`),
		Refs: []meta.Ref{{Digest: layer, Kind: meta.RefBlob}, {Digest: digest.FromBytes(cfgBytes), Kind: meta.RefBlob}}}
	if err := s.PutManifestTags(ctx, "a/app", img, []string{"v1", "latest"}); err != nil {
		t.Fatal(err)
	}
	idx := &meta.Manifest{Digest: digest.FromString("idx"), MediaType: "application/vnd.oci.image.index.v1+json",
		Payload: []byte(`{"idx":1}`), Annotations: []byte(`{"a":"b"}`),
		Refs: []meta.Ref{{Digest: img.Digest, Kind: meta.RefManifest}, {Digest: digest.FromString("elsewhere"), Kind: meta.RefManifest, Optional: true}}}
	if err := s.PutManifest(ctx, "a/app", idx, "multi"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SigningKey(ctx, meta.TokenSigningKey, []byte("pem")); err != nil {
		t.Fatal(err)
	}
}

// exportAll reads every exported row of s, page by page.
func exportAll(t *testing.T, s *meta.SQL, pageSize int) map[string][]meta.Row {
	t.Helper()
	out := map[string][]meta.Row{}
	for _, table := range meta.ExportTables() {
		var after []any
		for {
			p, err := s.Export(t.Context(), table, after, pageSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Rows) == 0 {
				break
			}
			out[table] = append(out[table], p.Rows...)
			after = p.Rows[len(p.Rows)-1].Key
		}
	}
	return out
}

// copyAll imports every exported row of src into dst and returns the rows
// written.
func copyAll(t *testing.T, src, dst *meta.SQL) int {
	t.Helper()
	written := 0
	for _, table := range meta.ExportTables() {
		var after []any
		for {
			p, err := src.Export(t.Context(), table, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Rows) == 0 {
				break
			}
			n, err := dst.Import(t.Context(), table, p)
			if err != nil {
				t.Fatal(err)
			}
			written += n
			after = p.Rows[len(p.Rows)-1].Key
		}
	}
	if err := dst.FinishImport(t.Context()); err != nil {
		t.Fatal(err)
	}
	return written
}

// checkExportCopy copies a fixture from a SQLite store into dst twice: the
// copy is exact (the empty inline blob stays empty, not NULL), and the
// second copy writes nothing.
func checkExportCopy(t *testing.T, dst *meta.SQL) {
	src := openSQLite(t, filepath.Join(t.TempDir(), "src.db"))
	exportFixture(t, src)
	want := exportAll(t, src, 3)
	if n := copyAll(t, src, dst); n == 0 {
		t.Fatal("first copy wrote nothing")
	}
	if got := exportAll(t, dst, 1000); !reflect.DeepEqual(got, want) {
		t.Errorf("copy differs:\n got %v\nwant %v", got, want)
	}
	if n := copyAll(t, src, dst); n != 0 {
		t.Errorf("second copy wrote %d rows, want 0", n)
	}
	if !hasEmptyBytes(want["blobs"], digest.FromBytes(nil).String()) {
		t.Error("the empty inline blob's content was exported as NULL")
	}
	// New repositories after the copy get ids of their own.
	if err := dst.CommitBlob(t.Context(), "c/new", digest.FromString("new"), 3, "", nil); err != nil {
		t.Fatalf("commit into a new repository after the copy: %v", err)
	}
	if _, _, err := dst.RepoBlob(t.Context(), "a/app", digest.FromString("layer")); err != nil {
		t.Errorf("copied link: %v", err)
	}
	// The search index is not copied: the target builds its own.
	if ms, err := dst.SearchRepositories(t.Context(), meta.SearchQuery{Text: "a/app", Limit: 10}); err != nil || len(ms) == 0 || ms[0].Name != "a/app" {
		t.Errorf("search for a copied repository = %+v, %v, want a/app first", ms, err)
	}
}

func TestExportImportSQLite(t *testing.T) {
	checkExportCopy(t, openSQLite(t, filepath.Join(t.TempDir(), "dst.db")))
}

func TestExportImportPostgres(t *testing.T) {
	checkExportCopy(t, openPostgres(t, freshDatabase(t)))
}

// hasEmptyBytes reports whether the row whose first value is first holds
// an empty, non-nil []byte.
func hasEmptyBytes(rows []meta.Row, first string) bool {
	for _, r := range rows {
		if r.Values[0] != first {
			continue
		}
		for _, v := range r.Values {
			if b, ok := v.([]byte); ok && b != nil && len(b) == 0 {
				return true
			}
		}
	}
	return false
}

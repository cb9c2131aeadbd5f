package ui_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
	"github.com/wharf-registry/wharf/internal/ui"
)

// benchRepos is how many repositories the page benchmark stores.
const benchRepos = 100_000

// BenchmarkUIPages renders the UI's pages over a SQLite store of 100,000
// repositories (team<i%500>/app<i>, two tags each, one in ten with an
// explicit description; big/app with 1,000 tags) through real HTTP on
// loopback, and reports p50 and p99 per page: as alice, who sees
// everything, and as dev, whom the policy shows one namespace of 200.
// Run: go test -run '^$' -bench UIPages -benchtime 200x ./internal/ui/
func BenchmarkUIPages(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "meta.db")
	if err := benchFill(context.Background(), path); err != nil {
		b.Fatal(err)
	}
	md, err := meta.OpenSQLite(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer md.Close()
	fs, err := blob.NewFilesystem(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg := registry.New(fs, md, registry.Options{DeleteEnabled: true, InlineMax: 16 << 10}, log)
	g := testGuard(b, dir)
	g.Policy.Rules = append(g.Policy.Rules, auth.Rule{Repositories: "team007/*", Users: []string{"dev"}, Actions: []string{"pull"}})
	g.Policy.Public = nil
	h, err := ui.New(reg, ui.Options{Guard: g, SessionKey: bytes.Repeat([]byte("k"), 32), Sessions: md, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &uiEnv{reg: reg, md: md, srv: srv, guard: g}
	pages := []struct{ name, path string }{
		{"home", "/"},
		{"home-deep", "/?after=team250/app050000"},
		{"search-one", "/search?q=app042424"},
		{"search-namespace", "/search?q=team007/"},
		{"search-page-100", "/search?q=app&page=100"},
		{"repository", "/r/team042/app042042"},
		{"repository-1000-tags", "/r/big/app"},
		{"repository-1000-tags-page-10", "/r/big/app?after=t0450"},
		{"manifest", "/r/team042/app042042/-/manifest/latest"},
	}
	for _, user := range []string{"alice", "dev"} {
		br := e.browser(b)
		br.login(user)
		for _, p := range pages {
			if user == "dev" && strings.HasPrefix(p.name, "repository") || user == "dev" && p.name == "manifest" {
				continue // what dev may not see costs a lookup, not a page
			}
			b.Run(user+"/"+p.name, func(b *testing.B) {
				took := make([]time.Duration, 0, b.N)
				for range b.N {
					start := time.Now()
					status, body := br.get(p.path)
					took = append(took, time.Since(start))
					if status != 200 || len(body) < 500 {
						b.Fatalf("%s: %d\n%s", p.path, status, body)
					}
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// benchFill creates the schema with meta, then inserts the rows directly,
// a thousand repositories per transaction, so that the fill takes seconds.
func benchFill(ctx context.Context, path string) error {
	md, err := meta.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	md.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	img := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	img.Config.Labels = map[string]string{ocispec.AnnotationDescription: "An application from its label"}
	cfg, _ := json.Marshal(img)
	cfgDigest := digest.FromBytes(cfg)
	layerDigest := digest.FromString("layer")
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerDigest, Size: 3 << 20}}}
	m.SchemaVersion = 2
	payload, _ := json.Marshal(m)
	md5 := digest.FromBytes(payload)
	now := time.Now().UnixMilli()
	if _, err := db.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at, content) VALUES (?, ?, ?, ?), (?, ?, ?, NULL)`,
		cfgDigest.String(), len(cfg), now, cfg, layerDigest.String(), 3<<20, now); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	repo := func(tx *sql.Tx, id int, name string, tags []string) error {
		stmts := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO repositories (id, name, created_at) VALUES (?, ?, ?)`, []any{id, name, now}},
			{`INSERT INTO repository_blobs (repo_id, digest, created_at) VALUES (?, ?, ?), (?, ?, ?)`,
				[]any{id, cfgDigest.String(), now, id, layerDigest.String(), now}},
			{`INSERT INTO manifests (repo_id, digest, media_type, artifact_type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				[]any{id, md5.String(), ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, payload, now}},
			{`INSERT INTO manifest_refs (repo_id, manifest_digest, ref_digest, kind) VALUES (?, ?, ?, 1), (?, ?, ?, 1)`,
				[]any{id, md5.String(), cfgDigest.String(), id, md5.String(), layerDigest.String()}},
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
				return fmt.Errorf("repository %s: %w", name, err)
			}
		}
		for i, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (repo_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)`,
				id, t, md5.String(), now+int64(i)); err != nil {
				return fmt.Errorf("tag %s:%s: %w", name, t, err)
			}
		}
		return nil
	}
	const batch = 1000
	for start := 0; start < benchRepos; start += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := start; i < min(start+batch, benchRepos); i++ {
			name := fmt.Sprintf("team%03d/app%06d", i%500, i)
			if err := repo(tx, i+1, name, []string{"latest", "v1"}); err != nil {
				tx.Rollback()
				return err
			}
			if i%10 == 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO repo_info (repo, description, overview, updated_at) VALUES (?, ?, ?, ?)`,
					name, "Explicit description of "+name, "# "+name+"\n\nSome *Markdown*.", now); err != nil {
					tx.Rollback()
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var tags []string
	for i := range 1000 {
		tags = append(tags, fmt.Sprintf("t%04d", i))
	}
	if err := repo(tx, benchRepos+1, "big/app", tags); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

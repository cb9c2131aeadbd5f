package meta

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/testenv"
)

// benchSearchSizes are the repository counts the search benchmark grows
// one store through.
var benchSearchSizes = []int{1_000, 10_000, 100_000}

// benchSearchQueries are typical searches: one repository by most of its
// name, a team's namespace, a substring shared by about one name in a
// thousand, a word every name contains, a two-letter query below the
// trigram length, the empty query (a listing), a phrase of one description
// and a tag about one repository in a thousand has.
var benchSearchQueries = []string{"app004242", "team007/", "app0001", "app", "zq", "", "proxy number 4242", "v3.42"}

// BenchmarkSearchRepositories fills one SQLite store to each size in turn
// (rows inserted directly, in batches, so the fill takes seconds) and
// reports the p50 and p99 latency of one search page of 25 plus its count,
// as the v1 search for a caller who sees everything runs them, and of
// reading every match, as a filtered caller's search does.
// Run: go test -run '^$' -bench SearchRepositories -benchtime 100x ./internal/meta/
func BenchmarkSearchRepositories(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchSearchSizesOn(ctx, b, s)
}

// BenchmarkSearchRepositoriesPostgres is BenchmarkSearchRepositories on the
// test PostgreSQL server (pg_trgm index), in a database of its own.
func BenchmarkSearchRepositoriesPostgres(b *testing.B) {
	ctx := context.Background()
	admin := testenv.Postgres(b, "run through scripts/test-services.sh, which starts PostgreSQL")
	s, err := OpenPostgres(ctx, testenv.FreshDatabase(b, admin, "wharf_bench_"), 4)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchSearchSizesOn(ctx, b, s)
}

// benchSearchSizesOn grows s through benchSearchSizes, benchmarking the
// queries at each size.
func benchSearchSizesOn(ctx context.Context, b *testing.B, s *SQL) {
	filled := 0
	for _, size := range benchSearchSizes {
		if err := benchFillRepositories(ctx, s, filled, size); err != nil {
			b.Fatal(err)
		}
		filled = size
		if s.d.name == "postgres" {
			// What autovacuum does to a table that grew: statistics for the
			// planner, and the GIN index's pending list merged.
			for _, table := range []string{"repositories", "repo_search", "tags"} {
				if _, err := s.w.ExecContext(ctx, `VACUUM ANALYZE `+table); err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, q := range benchSearchQueries {
			b.Run(fmt.Sprintf("repos=%d/q=%q", size, q), func(b *testing.B) {
				benchSearch(ctx, b, s, q, 25)
			})
		}
		// A caller the policy shows two teams of five hundred: the view is
		// part of the query.
		for _, q := range []string{"app", "", "proxy"} {
			b.Run(fmt.Sprintf("repos=%d/q=%q/two-teams", size, q), func(b *testing.B) {
				benchSearch(ctx, b, s, q, 25, "team007/*", "team123/*")
			})
		}
	}
}

// benchSearch runs b.N searches for q, limit matches each, and reports
// latency percentiles; visible, if any, is the caller's view.
func benchSearch(ctx context.Context, b *testing.B, s *SQL, q string, limit int, visible ...string) {
	took := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		sq := SearchQuery{Text: q, Limit: limit, Visible: visible}
		if _, err := s.CountRepositories(ctx, sq); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SearchRepositories(ctx, sq); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// benchFillRepositories inserts repositories from..to-1 as
// team<i%500>/app<i>, each with a search description, a manifest and a
// tag, a thousand per transaction.
func benchFillRepositories(ctx context.Context, s *SQL, from, to int) error {
	const batch = 1000
	words := []string{"web server", "reverse proxy", "database", "message queue", "build tools"}
	for start := from; start < to; start += batch {
		end := min(start+batch, to)
		rows := map[string][][]any{}
		for i := start; i < end; i++ {
			name := fmt.Sprintf("team%03d/app%06d", i%500, i)
			d := fmt.Sprintf("sha256:%064x", i)
			rows["repositories (id, name, created_at)"] = append(rows["repositories (id, name, created_at)"], []any{int64(i + 1), name, int64(i)})
			rows["repo_search (repo_id, description, stars)"] = append(rows["repo_search (repo_id, description, stars)"],
				[]any{int64(i + 1), fmt.Sprintf("%s number %d of team %03d", words[i%len(words)], i, i%500), benchStars(i)})
			rows["manifests (repo_id, digest, media_type, artifact_type, payload, created_at)"] = append(
				rows["manifests (repo_id, digest, media_type, artifact_type, payload, created_at)"],
				[]any{int64(i + 1), d, "application/vnd.oci.image.manifest.v1+json", "", []byte("{}"), int64(i)})
			rows["tags (repo_id, name, manifest_digest, updated_at)"] = append(rows["tags (repo_id, name, manifest_digest, updated_at)"],
				[]any{int64(i + 1), fmt.Sprintf("v%d.%d", i%10, i%1000), d, int64(i)})
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for _, table := range []string{"repositories (id, name, created_at)", "repo_search (repo_id, description, stars)",
				"manifests (repo_id, digest, media_type, artifact_type, payload, created_at)", "tags (repo_id, name, manifest_digest, updated_at)"} {
				if err := benchInsert(ctx, s, tx, table, rows[table]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill repositories %d..%d: %w", start, end, err)
		}
	}
	return nil
}

// benchStars is repository i's star count: one in a hundred has some.
func benchStars(i int) int64 {
	if i%100 != 0 {
		return 0
	}
	return int64(i/100%20 + 1)
}

// benchInsert inserts rows into table ("name (columns)") in one statement.
func benchInsert(ctx context.Context, s *SQL, tx *sql.Tx, table string, rows [][]any) error {
	var sb strings.Builder
	var args []any
	sb.WriteString("INSERT INTO " + table + " VALUES ")
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ") + ")")
		args = append(args, r...)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(sb.String()), args...); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

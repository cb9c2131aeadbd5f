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
// trigram length, and the empty query (a listing).
var benchSearchQueries = []string{"app004242", "team007/", "app0001", "app", "zq", ""}

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
			if _, err := s.w.ExecContext(ctx, `VACUUM ANALYZE repositories`); err != nil {
				b.Fatal(err)
			}
		}
		for _, q := range benchSearchQueries {
			b.Run(fmt.Sprintf("repos=%d/q=%q", size, q), func(b *testing.B) {
				benchSearch(ctx, b, s, q, 25)
			})
		}
		// A caller the policy filters reads every match of the query.
		for _, q := range []string{"team007/", "app"} {
			b.Run(fmt.Sprintf("repos=%d/q=%q/all-matches", size, q), func(b *testing.B) {
				benchSearch(ctx, b, s, q, -1)
			})
		}
	}
}

// benchSearch runs b.N searches for q, limit matches each, and reports
// latency percentiles.
func benchSearch(ctx context.Context, b *testing.B, s *SQL, q string, limit int) {
	took := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		sq := SearchQuery{Text: q, Limit: limit}
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
// team<i%500>/app<i>, a thousand per transaction.
func benchFillRepositories(ctx context.Context, s *SQL, from, to int) error {
	const batch = 1000
	for start := from; start < to; start += batch {
		end := min(start+batch, to)
		var sb strings.Builder
		args := make([]any, 0, 2*(end-start))
		sb.WriteString(`INSERT INTO repositories (name, created_at) VALUES `)
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?)")
			args = append(args, fmt.Sprintf("team%03d/app%06d", i%500, i), int64(i))
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, s.d.rebind(sb.String()), args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("fill repositories %d..%d: %w", start, end, err)
		}
	}
	return nil
}

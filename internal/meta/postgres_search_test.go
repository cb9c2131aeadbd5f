package meta_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// TestPostgresSearchIndex checks migrations 10 and 11 made the pg_trgm
// indexes on the test server (a superuser may create the extension) and
// that each can serve the LIKE or ILIKE '%q%' search uses.
func TestPostgresSearchIndex(t *testing.T) {
	dsn := freshDatabase(t)
	openPostgres(t, dsn)
	db := rawDB(t, dsn)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The tables are tiny: forbid the sequential scan to see whether the
	// indexes can answer at all.
	if _, err := conn.ExecContext(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ table, index, query string }{
		{"repositories", "repositories_name_trgm", `SELECT name FROM repositories WHERE name LIKE '%httpd%'`},
		{"repo_search", "repo_search_description_trgm", `SELECT repo_id FROM repo_search WHERE description ILIKE '%web server%'`},
		{"tags", "tags_name_trgm", `SELECT repo_id FROM tags WHERE name ILIKE '%alpine%'`},
	}
	for _, tt := range tests {
		var n int
		if err := conn.QueryRowContext(t.Context(),
			`SELECT COUNT(*) FROM pg_indexes WHERE tablename = $1 AND indexname = $2`, tt.table, tt.index).Scan(&n); err != nil {
			t.Fatalf("read pg_indexes: %v", err)
		}
		if n != 1 {
			t.Errorf("%s missing", tt.index)
			continue
		}
		if plan := explain(t, conn, tt.query); !strings.Contains(plan, tt.index) {
			t.Errorf("%s does not use %s:\n%s", tt.query, tt.index, plan)
		}
	}
}

// explain returns PostgreSQL's plan for query.
func explain(t *testing.T, conn interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, query string) string {
	t.Helper()
	rows, err := conn.QueryContext(t.Context(), `EXPLAIN `+query)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	return plan.String()
}

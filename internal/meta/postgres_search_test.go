package meta_test

import (
	"strings"
	"testing"
)

// TestPostgresSearchIndex checks migration 9 made the pg_trgm index on the
// test server (a superuser may create the extension) and that it can serve
// the LIKE '%q%' search uses.
func TestPostgresSearchIndex(t *testing.T) {
	dsn := freshDatabase(t)
	openPostgres(t, dsn)
	db := rawDB(t, dsn)
	var n int
	if err := db.QueryRowContext(t.Context(),
		`SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'repositories' AND indexname = 'repositories_name_trgm'`).Scan(&n); err != nil {
		t.Fatalf("read pg_indexes: %v", err)
	}
	if n != 1 {
		t.Fatalf("repositories_name_trgm missing")
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The table is tiny: forbid the sequential scan to see whether the
	// index can answer at all.
	if _, err := conn.ExecContext(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(t.Context(), `EXPLAIN SELECT name FROM repositories WHERE name LIKE '%httpd%'`)
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
	if !strings.Contains(plan.String(), "repositories_name_trgm") {
		t.Errorf("search does not use the trigram index:\n%s", plan.String())
	}
}

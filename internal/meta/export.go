package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// exportTable is a table a migration between stores copies, with its
// primary key: rows are read in key order and written where the key is
// not present yet, so a copy that stopped half-way is continued by
// running it again.
type exportTable struct {
	name string
	key  []string
}

// exportTables are the tables a migration copies, parents before the rows
// referring to them. Upload sessions are not copied: their bytes and
// blob-store state belong to the source's blob store. schema_migrations is
// the target's own. TestExportCoversSchema fails when a migration adds a
// table missing here.
var exportTables = []exportTable{
	{"repositories", []string{"id"}},
	{"blobs", []string{"digest"}},
	{"repository_blobs", []string{"repo_id", "digest"}},
	{"manifests", []string{"repo_id", "digest"}},
	{"manifest_refs", []string{"repo_id", "manifest_digest", "ref_digest"}},
	{"tags", []string{"repo_id", "name"}},
	{"gc_queue", []string{"kind", "repo_id", "digest"}},
	{"removed_refs", []string{"repo_id", "digest"}},
	{"signing_keys", []string{"name"}},
	{"repo_info", []string{"repo"}},
	{"repo_stars", []string{"repo", "username"}},
	{"ui_revoked_sessions", []string{"id"}},
}

// notExported are the tables a migration leaves behind, on purpose:
// repo_search is derived, and the target's registry rebuilds it; the
// webhooks' event log stays with the deployment that recorded it (its
// deliveries name that deployment's endpoints); the pull-through cache's
// fetch leases and access times belong to the running nodes.
var notExported = []string{"uploads", "schema_migrations", "repo_search", "events", "event_deliveries", "event_attempts",
	"proxy_fetches", "proxy_access"}

// ExportTables lists the tables Export and Import handle, in the order
// they must be imported (a row's parents first).
func ExportTables() []string {
	out := make([]string, len(exportTables))
	for i, t := range exportTables {
		out[i] = t.name
	}
	return out
}

// Row is one exported row: its primary key and every column's value,
// normalised so that rows read from SQLite and PostgreSQL compare equal
// when they hold the same data (int64, string, []byte or nil; an empty
// []byte, an empty inline blob, is not nil).
type Row struct {
	Key    []any
	Values []any
}

// Page is a page of exported rows of one table.
type Page struct {
	Columns []string
	Rows    []Row
}

func findExportTable(name string) (exportTable, error) {
	for _, t := range exportTables {
		if t.name == name {
			return t, nil
		}
	}
	return exportTable{}, fmt.Errorf("meta: table %s is not exported", name)
}

// columns returns the table's columns as the database has them, so that
// a column a later migration adds is copied without being listed here.
func (s *SQL) columns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT * FROM `+table+` WHERE 1 = 0`)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return cols, rows.Err()
}

// Export returns up to n rows of table in primary-key order after the key
// after (nil: from the start).
func (s *SQL) Export(ctx context.Context, table string, after []any, n int) (*Page, error) {
	t, err := findExportTable(table)
	if err != nil {
		return nil, err
	}
	cols, err := s.columns(ctx, table)
	if err != nil {
		return nil, err
	}
	keyAt := make([]int, len(t.key))
	for i, k := range t.key {
		keyAt[i] = indexOf(cols, k)
		if keyAt[i] < 0 {
			return nil, fmt.Errorf("export %s: no key column %s", table, k)
		}
	}
	keyList := strings.Join(t.key, ", ")
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + table
	var args []any
	if after != nil {
		q += ` WHERE (` + keyList + `) > (` + placeholders(len(after)) + `)`
		args = append(args, after...)
	}
	q += ` ORDER BY ` + keyList + ` LIMIT ?`
	args = append(args, n)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", table, err)
	}
	defer rows.Close()
	page := &Page{Columns: cols}
	for rows.Next() {
		cells := make([]cell, len(cols))
		ptrs := make([]any, len(cols))
		for i := range cells {
			ptrs[i] = &cells[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("export %s: %w", table, err)
		}
		r := Row{Values: make([]any, len(cols)), Key: make([]any, len(keyAt))}
		for i, c := range cells {
			r.Values[i] = c.v
		}
		for i, at := range keyAt {
			r.Key[i] = r.Values[at]
		}
		page.Rows = append(page.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export %s: %w", table, err)
	}
	return page, nil
}

// Import writes the rows of page into table in one transaction, skipping
// rows whose key is present already, and returns how many it wrote.
func (s *SQL) Import(ctx context.Context, table string, page *Page) (int, error) {
	t, err := findExportTable(table)
	if err != nil {
		return 0, err
	}
	if len(page.Rows) == 0 {
		return 0, nil
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(page.Columns, ", ") + `) VALUES (` +
		placeholders(len(page.Columns)) + `) ON CONFLICT (` + strings.Join(t.key, ", ") + `) DO NOTHING`
	written := 0
	err = s.tx(uninterrupted(ctx), func(tx *sql.Tx) error {
		written = 0
		for _, r := range page.Rows {
			res, err := s.exec(ctx, tx, q, r.Values...)
			if err != nil {
				return fmt.Errorf("import %s: %w", table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("import %s: %w", table, err)
			}
			written += int(n)
		}
		return nil
	})
	return written, err
}

// FinishImport makes the store's own numbering continue after the ids
// imported (PostgreSQL's sequence of repository ids does not move when ids
// are inserted explicitly).
func (s *SQL) FinishImport(ctx context.Context) error {
	if s.d.name != postgresDialect.name {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('repositories', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM repositories`)
	if err != nil {
		return fmt.Errorf("advance repository ids: %w", err)
	}
	return nil
}

// CompareKeys orders two exported keys of the same table as both
// databases order them (integers numerically, text bytewise).
func CompareKeys(a, b []any) int {
	for i := range a {
		if c := compareValue(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareValue(a, b any) int {
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, fmt.Sprint(b))
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// cell scans any column into the normalised form of Row.Values.
type cell struct{ v any }

// Scan implements sql.Scanner.
func (c *cell) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		c.v = nil
	case int64:
		c.v = v
	case int32:
		c.v = int64(v)
	case int:
		c.v = int64(v)
	case bool:
		c.v = int64(0)
		if v {
			c.v = int64(1)
		}
	case string:
		c.v = v
	case []byte:
		c.v = append([]byte{}, v...)
	default:
		return fmt.Errorf("unexpected column type %T", src)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// ExportCount returns how many rows table holds, for progress reports.
func (s *SQL) ExportCount(ctx context.Context, table string) (int64, error) {
	if _, err := findExportTable(table); err != nil {
		return 0, err
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

package meta

import (
	"context"
	"fmt"
	"strings"
)

// RepoMatch is one repository a search found.
type RepoMatch struct {
	Name string
	// Description and Stars are left empty by the store's search: the
	// registry fills them in for the one page it returns (RepoInfo and the
	// content's annotations), so ranking and counting stay one index scan.
	Description string
	Stars       int
}

// searchFilter is the WHERE clause and its arguments that select the names
// containing query. SQLite's trigram index answers queries of three or more
// characters; shorter ones, and every query on PostgreSQL (where the
// pg_trgm index serves LIKE directly), use LIKE. Repository names are
// lower case by the distribution spec, so lowering the query alone makes
// the search case-insensitive and keeps name bare for the index.
func (s *SQL) searchFilter(query string) (string, []any) {
	if query == "" {
		return "1 = 1", nil
	}
	if s.d.ftsSearch && len(query) >= 3 {
		phrase := `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
		return `id IN (SELECT rowid FROM repositories_search WHERE repositories_search MATCH ?)`, []any{phrase}
	}
	return `name LIKE ? ESCAPE '!'`, []any{"%" + likeEscape(query) + "%"}
}

// likeEscape escapes LIKE's wildcards with '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// SearchRepositories implements Store.
func (s *SQL) SearchRepositories(ctx context.Context, query string, offset, limit int) ([]RepoMatch, error) {
	query = strings.ToLower(query)
	where, args := s.searchFilter(query)
	if limit < 0 {
		limit = 1 << 30
	}
	if offset < 0 {
		offset = 0
	}
	if query == "" {
		// Every name ranks alike: byte order, which the name index serves
		// without sorting the table.
		return s.searchRows(ctx, query, `SELECT name FROM repositories ORDER BY name LIMIT ? OFFSET ?`, limit, offset)
	}
	q := `SELECT name FROM repositories WHERE ` + where + ` ORDER BY
		CASE WHEN name = ? THEN 0
		WHEN name LIKE ? ESCAPE '!' THEN 1
		WHEN name LIKE ? ESCAPE '!' OR name LIKE ? ESCAPE '!' THEN 2
		ELSE 3 END, name LIMIT ? OFFSET ?`
	e := likeEscape(query)
	args = append(args, query, "%/"+e, e+"%", "%/"+e+"%", limit, offset)
	return s.searchRows(ctx, query, q, args...)
}

// searchRows runs a search query whose rows are repository names.
func (s *SQL) searchRows(ctx context.Context, query, q string, args ...any) ([]RepoMatch, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("search repositories for %q: %w", query, err)
	}
	defer rows.Close()
	out := []RepoMatch{}
	for rows.Next() {
		var m RepoMatch
		if err := rows.Scan(&m.Name); err != nil {
			return nil, fmt.Errorf("search repositories for %q: %w", query, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search repositories for %q: %w", query, err)
	}
	return out, nil
}

// CountRepositories implements Store.
func (s *SQL) CountRepositories(ctx context.Context, query string) (int, error) {
	where, args := s.searchFilter(strings.ToLower(query))
	var n int
	if err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM repositories WHERE `+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count repositories matching %q: %w", query, err)
	}
	return n, nil
}

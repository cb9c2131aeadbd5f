package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// RepoMatch is one repository a search found.
type RepoMatch struct {
	Name string
	// Description is the one-line description search shows and matches,
	// and Stars how many users starred the repository, as the registry
	// last recorded them (SetSearchDescription).
	Description string
	Stars       int
	// Indexed reports whether the registry has recorded them yet: a
	// repository imported or created by an older wharf has no record until
	// the registry backfills it (UnindexedRepositories).
	Indexed bool
}

// SearchQuery is one page of a repository search.
type SearchQuery struct {
	// Text is what names, descriptions or tags must contain,
	// case-insensitively; empty lists every repository in byte order.
	Text string
	// Visible keeps only names matching one of these globs ('*' matches any
	// run of characters, nothing else is special): the caller's view, so
	// that pages and counts hold nothing hidden. nil keeps every name; an
	// empty, non-nil list keeps none.
	Visible []string
	// Offset matches are skipped and at most Limit returned (< 0: all).
	Offset, Limit int
	// After, with an empty Text, starts the listing after this name: the
	// catalog's keyset paging, which costs the same on every page.
	After string
}

// SearchTextStore keeps what search reads besides names: the description
// it shows and matches, and star counts.
type SearchTextStore interface {
	// SearchRepositories lists the repositories matching q, ranked: the
	// exact name, then the name's last path segment exactly, then a name
	// or path segment starting with the text, then a name containing it,
	// then a description containing it, then a tag containing it; more
	// stars first within each rank, then byte order of name.
	SearchRepositories(ctx context.Context, q SearchQuery) ([]RepoMatch, error)
	// CountRepositories counts every match of q, ignoring its page.
	CountRepositories(ctx context.Context, q SearchQuery) (int, error)
	// SetSearchDescription records the one-line description search shows
	// and matches for repo, and its current star count; nothing when repo
	// does not exist. A record that is already so is not written again, so
	// the common push (a new tag, the same description) costs a read.
	SetSearchDescription(ctx context.Context, repo, description string) error
	// UnindexedRepositories lists, after after in byte order, at most n
	// repositories with no search record.
	UnindexedRepositories(ctx context.Context, after string, n int) ([]string, error)
	// SearchSource reads, in one query, what repo's search record derives
	// from and the record as it stands, so that a push which changes
	// neither costs one read; ErrNotFound when repo does not exist.
	SearchSource(ctx context.Context, repo string) (SearchSource, error)
}

// SearchSource is what a repository's search record is made of, and the
// record itself.
type SearchSource struct {
	// Description is the one set explicitly ("" when none), Stars how many
	// users starred the repository.
	Description string
	Stars       int
	// Newest is the manifest of the most recently pushed tag, whose content
	// describes the repository when no description was set; "" when the
	// repository has no tags.
	Newest digest.Digest
	// Recorded and RecordedStars are the current record, if HasRecord.
	Recorded      string
	RecordedStars int
	HasRecord     bool
}

// likeEscape escapes LIKE's wildcards with '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// globLike turns a visibility glob into a LIKE pattern.
func globLike(glob string) string {
	return strings.ReplaceAll(likeEscape(glob), "*", "%")
}

// jsonStrings is a table v of the strings of a JSON array parameter, in
// column value.
func (s *SQL) jsonStrings() string {
	if s.d.name == "postgres" {
		return `json_array_elements_text(?::json) AS v(value)`
	}
	return `json_each(?) AS v`
}

// ilike is the dialect's case-insensitive LIKE: SQLite's LIKE already is
// for ASCII; PostgreSQL's ILIKE is what its trigram indexes serve.
func (s *SQL) ilike() string {
	if s.d.name == "postgres" {
		return "ILIKE"
	}
	return "LIKE"
}

// searchFilter is the WHERE clause (over repositories r) and its arguments
// selecting q's matches. A narrow view (isNarrow) is tested row by row.
// Otherwise, on SQLite, queries of three or more characters go through the
// FTS5 trigram indexes; shorter ones, and every query on PostgreSQL (whose
// pg_trgm indexes serve LIKE and ILIKE directly), use LIKE. Repository
// names are lower case by the distribution spec, so lowering the text
// keeps the name index usable; descriptions and tags
// match case-insensitively. A tag found through its index is checked
// again, see sqliteSearchTextIndex.
//
// from is the FROM clause that defines r: the repositories table, or the
// union of the ids the three indexes match joined to it, so that each
// index serves its part and neither counting nor ranking scans the table
// for members of the union. Its arguments come first in args.
func (s *SQL) searchFilter(q SearchQuery, narrow bool) (from, where string, args []any) {
	from = "repositories r"
	var conds []string
	if q.Text != "" {
		contains := "%" + likeEscape(q.Text) + "%"
		like := s.ilike()
		switch {
		case narrow:
			// Row by row, through the primary keys: the few repositories
			// of the view, not every match in the registry.
			conds = append(conds, `(r.name LIKE ? ESCAPE '!'
				OR EXISTS (SELECT 1 FROM repo_search t2 WHERE t2.repo_id = r.id AND t2.description `+like+` ? ESCAPE '!')
				OR EXISTS (SELECT 1 FROM tags t3 WHERE t3.repo_id = r.id AND t3.name `+like+` ? ESCAPE '!'))`)
			args = append(args, contains, contains, contains)
		case s.d.ftsSearch && len(q.Text) >= 3:
			phrase := `"` + strings.ReplaceAll(q.Text, `"`, `""`) + `"`
			from = `(SELECT rowid AS id FROM repositories_search WHERE repositories_search MATCH ?
				UNION SELECT rowid FROM repo_search_fts WHERE repo_search_fts MATCH ?
				UNION SELECT repo_id FROM tags WHERE rowid IN (SELECT rowid FROM tags_search WHERE tags_search MATCH ?) AND name LIKE ? ESCAPE '!'
				) c JOIN repositories r ON r.id = c.id`
			args = append(args, phrase, phrase, phrase, contains)
		default:
			from = `(SELECT id FROM repositories WHERE name LIKE ? ESCAPE '!'
				UNION SELECT repo_id FROM repo_search WHERE description ` + like + ` ? ESCAPE '!'
				UNION SELECT repo_id FROM tags WHERE name ` + like + ` ? ESCAPE '!'
				) c JOIN repositories r ON r.id = c.id`
			args = append(args, contains, contains, contains)
		}
	}
	if q.Text == "" && q.After != "" {
		conds = append(conds, `r.name > ?`)
		args = append(args, q.After)
	}
	if q.Visible != nil {
		w, a, _ := s.visibleFilter(q.Visible)
		conds = append(conds, w)
		args = append(args, a...)
	}
	if len(conds) == 0 {
		return from, "1 = 1", args
	}
	return from, strings.Join(conds, " AND "), args
}

// maxPrefixScans bounds the range scans one view is turned into; a view
// with more prefixes is matched name by name.
const maxPrefixScans = 64

// visibleFilter is the WHERE clause (over repositories r) keeping the names
// a view's globs match. What policies are made of, exact names and
// "prefix*" globs, become lookups and range scans of the name index, so a
// caller who sees a few teams' repositories among many costs only those;
// any other glob is matched against every name. Lists travel as one JSON
// array parameter, however long: SQLite limits parameters, compound
// SELECTs and expression depth.
//
// indexed reports whether the index alone serves the clause.
func (s *SQL) visibleFilter(globs []string) (clause string, args []any, indexed bool) {
	var exact, general []string
	var scans []string
	for _, g := range globs {
		star := strings.IndexByte(g, '*')
		switch {
		case g == "*" || strings.Trim(g, "*") == "":
			return "1 = 1", nil, false
		case star < 0:
			exact = append(exact, g)
		case star == len(g)-1 && len(scans) < maxPrefixScans:
			// Names are ASCII: every name starting with the prefix sorts
			// below the prefix followed by DEL, bytewise (SQLite's BINARY,
			// PostgreSQL's "C" collation).
			scans = append(scans, `SELECT id FROM repositories WHERE name >= ? AND name < ?`)
			args = append(args, g[:star], g[:star]+"\x7f")
		default:
			general = append(general, globLike(g))
		}
	}
	if len(exact) > 0 {
		list, _ := json.Marshal(exact)
		scans = append(scans, `SELECT id FROM repositories WHERE name IN (SELECT value FROM `+s.jsonStrings()+`)`)
		args = append(args, string(list))
	}
	if len(general) > 0 {
		list, _ := json.Marshal(general)
		scans = append(scans, `SELECT id FROM repositories WHERE EXISTS (SELECT 1 FROM `+s.jsonStrings()+` WHERE name LIKE v.value ESCAPE '!')`)
		args = append(args, string(list))
	}
	if len(scans) == 0 {
		return "1 = 0", nil, true
	}
	return `r.id IN (` + strings.Join(scans, " UNION ALL ") + `)`, args, len(general) == 0
}

// narrowView is how many repositories a view may hold for a search within
// it to test them one by one rather than through the trigram indexes.
const narrowView = 5000

// isNarrow reports whether q's view is small enough, and served by the name
// index, for its text to be matched row by row: a broad text (a word every
// name has, a query too short for the trigram index) within a team's few
// repositories then costs those few, not every match in the registry.
func (s *SQL) isNarrow(ctx context.Context, q SearchQuery) (bool, error) {
	if q.Visible == nil || q.Text == "" {
		return false, nil
	}
	w, args, indexed := s.visibleFilter(q.Visible)
	if !indexed {
		return false, nil
	}
	var n int
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM (SELECT 1 FROM repositories r WHERE `+w+` LIMIT ?) x`),
		append(args, narrowView+1)...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("size of the view: %w", err)
	}
	return n <= narrowView, nil
}

// normalize lowers the text (see searchFilter) and bounds the page.
func (q SearchQuery) normalize() SearchQuery {
	q.Text = strings.ToLower(q.Text)
	if q.Limit < 0 {
		q.Limit = 1 << 30
	}
	q.Offset = max(q.Offset, 0)
	return q
}

// SearchRepositories implements SearchTextStore.
func (s *SQL) SearchRepositories(ctx context.Context, q SearchQuery) ([]RepoMatch, error) {
	q = q.normalize()
	if q.Visible != nil && len(q.Visible) == 0 {
		return []RepoMatch{}, nil
	}
	narrow, err := s.isNarrow(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search repositories for %q: %w", q.Text, err)
	}
	from, where, args := s.searchFilter(q, narrow)
	sel := `SELECT r.name, COALESCE(t.description, ''), COALESCE(t.stars, 0), t.repo_id IS NOT NULL
		FROM ` + from + ` LEFT JOIN repo_search t ON t.repo_id = r.id WHERE ` + where
	if q.Text == "" {
		// Every name ranks alike: byte order, which the name index serves
		// without sorting the table.
		return s.searchRows(ctx, q.Text, sel+` ORDER BY r.name LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	}
	e := likeEscape(q.Text)
	order := ` ORDER BY
		CASE WHEN r.name = ? THEN 0
		WHEN r.name LIKE ? ESCAPE '!' THEN 1
		WHEN r.name LIKE ? ESCAPE '!' OR r.name LIKE ? ESCAPE '!' THEN 2
		WHEN r.name LIKE ? ESCAPE '!' THEN 3
		WHEN t.description ` + s.ilike() + ` ? ESCAPE '!' THEN 4
		ELSE 5 END, COALESCE(t.stars, 0) DESC, r.name LIMIT ? OFFSET ?`
	args = append(args, q.Text, "%/"+e, e+"%", "%/"+e+"%", "%"+e+"%", "%"+e+"%", q.Limit, q.Offset)
	return s.searchRows(ctx, q.Text, sel+order, args...)
}

// searchRows runs a search query whose rows are RepoMatch's fields.
func (s *SQL) searchRows(ctx context.Context, text, q string, args ...any) ([]RepoMatch, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("search repositories for %q: %w", text, err)
	}
	defer rows.Close()
	out := []RepoMatch{}
	for rows.Next() {
		var m RepoMatch
		var stars int64
		if err := rows.Scan(&m.Name, &m.Description, &stars, &m.Indexed); err != nil {
			return nil, fmt.Errorf("search repositories for %q: %w", text, err)
		}
		m.Stars = int(stars)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search repositories for %q: %w", text, err)
	}
	return out, nil
}

// CountRepositories implements SearchTextStore.
func (s *SQL) CountRepositories(ctx context.Context, q SearchQuery) (int, error) {
	q = q.normalize()
	if q.Visible != nil && len(q.Visible) == 0 {
		return 0, nil
	}
	narrow, err := s.isNarrow(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count repositories matching %q: %w", q.Text, err)
	}
	from, where, args := s.searchFilter(q, narrow)
	var n int
	if err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM `+from+` WHERE `+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count repositories matching %q: %w", q.Text, err)
	}
	return n, nil
}

// SetSearchDescription implements SearchTextStore.
func (s *SQL) SetSearchDescription(ctx context.Context, repo, description string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO repo_search (repo_id, description, stars)
			SELECT id, ?, (SELECT COUNT(*) FROM repo_stars WHERE repo = ?) FROM repositories WHERE name = ?
			ON CONFLICT (repo_id) DO UPDATE SET description = excluded.description, stars = excluded.stars
			WHERE repo_search.description <> excluded.description OR repo_search.stars <> excluded.stars`, description, repo, repo)
		if err != nil {
			return fmt.Errorf("record search description of %s: %w", repo, err)
		}
		return nil
	})
}

// SearchSource implements SearchTextStore. Every part is a lookup by key
// (the newest tag through tags_updated), and the statement is prepared.
func (s *SQL) SearchSource(ctx context.Context, repo string) (SearchSource, error) {
	var (
		src              SearchSource
		newest, recorded sql.NullString
		recordedStars    sql.NullInt64
	)
	err := s.queryRow(ctx, `SELECT
			COALESCE((SELECT i.description FROM repo_info i WHERE i.repo = r.name), ''),
			(SELECT COUNT(*) FROM repo_stars st WHERE st.repo = r.name),
			(SELECT t.manifest_digest FROM tags t WHERE t.repo_id = r.id ORDER BY t.updated_at DESC, t.name DESC LIMIT 1),
			rs.description, rs.stars
		FROM repositories r LEFT JOIN repo_search rs ON rs.repo_id = r.id
		WHERE r.name = ?`, repo).Scan(&src.Description, &src.Stars, &newest, &recorded, &recordedStars)
	if errors.Is(err, sql.ErrNoRows) {
		return SearchSource{}, fmt.Errorf("search source of %s: %w", repo, ErrNotFound)
	}
	if err != nil {
		return SearchSource{}, fmt.Errorf("search source of %s: %w", repo, err)
	}
	src.Newest = digest.Digest(newest.String)
	src.Recorded, src.RecordedStars, src.HasRecord = recorded.String, int(recordedStars.Int64), recorded.Valid
	return src, nil
}

// UnindexedRepositories implements SearchTextStore.
func (s *SQL) UnindexedRepositories(ctx context.Context, after string, n int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT r.name FROM repositories r
		WHERE r.name > ? AND NOT EXISTS (SELECT 1 FROM repo_search t WHERE t.repo_id = r.id)
		ORDER BY r.name LIMIT ?`), after, n)
	if err != nil {
		return nil, fmt.Errorf("list repositories without search record: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list repositories without search record: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxOverview is the largest overview (Markdown) stored, in bytes.
const MaxOverview = 64 << 10

// ErrTooLarge is returned for an overview over MaxOverview.
var ErrTooLarge = errors.New("meta: value too large")

// RepoInfo is what the store holds about a repository besides its content.
type RepoInfo struct {
	// Description is the one set explicitly; empty when none is.
	Description string
	// Stars is how many users starred the repository.
	Stars int
}

// RepoInfoUpdate changes a repository's information; a nil field is kept.
type RepoInfoUpdate struct {
	Description *string
	Overview    *string
}

// RepoInfoStore holds descriptions, overviews and stars of repositories,
// by name: a repository need not exist (yet) to have them.
type RepoInfoStore interface {
	// SetRepoInfo changes repo's description and overview (ErrTooLarge for
	// an overview over MaxOverview).
	SetRepoInfo(ctx context.Context, repo string, u RepoInfoUpdate) error
	// RepoInfo returns the information of each of names in one query, so
	// that a search page joins descriptions and star counts at once. Every
	// name is in the map, with zero values when nothing is stored.
	RepoInfo(ctx context.Context, names []string) (map[string]RepoInfo, error)
	// RepoOverview returns repo's overview, empty when none is stored.
	RepoOverview(ctx context.Context, repo string) (string, error)
	// Star records (on) or removes user's star on repo; both are
	// idempotent.
	Star(ctx context.Context, repo, user string, on bool) error
	// Starred reports whether user starred repo.
	Starred(ctx context.Context, repo, user string) (bool, error)
	// NewestTag returns the tag of repo set last (ErrNotFound when repo has
	// none), whose manifest describes the repository.
	NewestTag(ctx context.Context, repo string) (string, error)
	// ManifestDigests lists the digests of repo's manifests after after, in
	// byte order, at most n: what deleting a whole repository walks.
	ManifestDigests(ctx context.Context, repo, after string, n int) ([]digest.Digest, error)
}

// SetRepoInfo implements RepoInfoStore.
func (s *SQL) SetRepoInfo(ctx context.Context, repo string, u RepoInfoUpdate) error {
	if u.Overview != nil && len(*u.Overview) > MaxOverview {
		return fmt.Errorf("overview of %s: %d bytes, at most %d: %w", repo, len(*u.Overview), MaxOverview, ErrTooLarge)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO repo_info (repo, description, overview, updated_at) VALUES (?, '', '', ?)
			ON CONFLICT (repo) DO NOTHING`, repo, s.millis()); err != nil {
			return fmt.Errorf("set information of %s: %w", repo, err)
		}
		if u.Description != nil {
			if _, err := s.exec(ctx, tx, `UPDATE repo_info SET description = ?, updated_at = ? WHERE repo = ?`, *u.Description, s.millis(), repo); err != nil {
				return fmt.Errorf("set description of %s: %w", repo, err)
			}
		}
		if u.Overview != nil {
			if _, err := s.exec(ctx, tx, `UPDATE repo_info SET overview = ?, updated_at = ? WHERE repo = ?`, *u.Overview, s.millis(), repo); err != nil {
				return fmt.Errorf("set overview of %s: %w", repo, err)
			}
		}
		return nil
	})
}

// RepoInfo implements RepoInfoStore.
func (s *SQL) RepoInfo(ctx context.Context, names []string) (map[string]RepoInfo, error) {
	out := make(map[string]RepoInfo, len(names))
	if len(names) == 0 {
		return out, nil
	}
	args := make([]any, 0, 2*len(names))
	for _, n := range names {
		out[n] = RepoInfo{}
		args = append(args, n)
	}
	args = append(args, args...)
	in := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
	q := `SELECT repo, MAX(description), SUM(stars) FROM (
			SELECT repo, description, 0 AS stars FROM repo_info WHERE repo IN (` + in + `)
			UNION ALL
			SELECT repo, '' AS description, 1 AS stars FROM repo_stars WHERE repo IN (` + in + `)
		) x GROUP BY repo`
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read repository information: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var info RepoInfo
		if err := rows.Scan(&name, &info.Description, &info.Stars); err != nil {
			return nil, fmt.Errorf("read repository information: %w", err)
		}
		out[name] = info
	}
	return out, rows.Err()
}

// RepoOverview implements RepoInfoStore.
func (s *SQL) RepoOverview(ctx context.Context, repo string) (string, error) {
	var o string
	err := s.queryRow(ctx, `SELECT overview FROM repo_info WHERE repo = ?`, repo).Scan(&o)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read overview of %s: %w", repo, err)
	}
	return o, nil
}

// Star implements RepoInfoStore.
func (s *SQL) Star(ctx context.Context, repo, user string, on bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if on {
			_, err = s.exec(ctx, tx, `INSERT INTO repo_stars (repo, username, created_at) VALUES (?, ?, ?)
				ON CONFLICT (repo, username) DO NOTHING`, repo, user, s.millis())
		} else {
			_, err = s.exec(ctx, tx, `DELETE FROM repo_stars WHERE repo = ? AND username = ?`, repo, user)
		}
		if err != nil {
			return fmt.Errorf("star %s for %s: %w", repo, user, err)
		}
		// Search ranks by the count: keep it in step, in this transaction.
		if _, err := s.exec(ctx, tx, `UPDATE repo_search SET stars = (SELECT COUNT(*) FROM repo_stars WHERE repo = ?)
			WHERE repo_id = (SELECT id FROM repositories WHERE name = ?)`, repo, repo); err != nil {
			return fmt.Errorf("star %s for %s: count: %w", repo, user, err)
		}
		return nil
	})
}

// Starred implements RepoInfoStore.
func (s *SQL) Starred(ctx context.Context, repo, user string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM repo_stars WHERE repo = ? AND username = ?`, repo, user).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read star of %s for %s: %w", repo, user, err)
	}
	return true, nil
}

// NewestTag implements RepoInfoStore. Ties, tags set in the same
// millisecond, go to the greatest name, so the answer is stable.
func (s *SQL) NewestTag(ctx context.Context, repo string) (string, error) {
	var tag string
	err := s.queryRow(ctx, `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = ? ORDER BY t.updated_at DESC, t.name DESC LIMIT 1`, repo).Scan(&tag)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("newest tag of %s: %w", repo, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("newest tag of %s: %w", repo, err)
	}
	return tag, nil
}

// ManifestDigests implements RepoInfoStore.
func (s *SQL) ManifestDigests(ctx context.Context, repo, after string, n int) ([]digest.Digest, error) {
	names, err := s.names(ctx, `SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = ? AND m.digest > ? ORDER BY m.digest LIMIT ?`, n, repo, after)
	if err != nil {
		return nil, fmt.Errorf("list manifests of %s: %w", repo, err)
	}
	out := make([]digest.Digest, len(names))
	for i, n := range names {
		out[i] = digest.Digest(n)
	}
	return out, nil
}

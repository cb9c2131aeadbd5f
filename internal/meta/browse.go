package meta

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// RepoSummary is what a listing of repositories shows of one besides its
// description and stars.
type RepoSummary struct {
	Tags int
	// LastPush is when a tag of the repository was last set; zero when it
	// has no tag.
	LastPush time.Time
}

// TagRecord is a tag with the manifest it points at.
type TagRecord struct {
	Name      string
	Digest    digest.Digest
	MediaType string
	Payload   []byte
	Updated   time.Time
}

// RepoDigest names a manifest of a repository.
type RepoDigest struct {
	Repo   string
	Digest digest.Digest
}

// Browser answers the listings of a browsing client (the web UI) a page at
// a time, each in one query, so that a page costs the same whatever its
// length.
type Browser interface {
	// RepoSummaries returns the tag count and last push of each of names
	// that exists.
	RepoSummaries(ctx context.Context, names []string) (map[string]RepoSummary, error)
	// TagRecords lists repo's tags after last in byte order, at most n,
	// with their manifests.
	TagRecords(ctx context.Context, repo, last string, n int) ([]TagRecord, error)
	// ManifestsByDigest returns those of digests that repo holds.
	ManifestsByDigest(ctx context.Context, repo string, digests []digest.Digest) (map[digest.Digest]*Manifest, error)
	// InlineBlobs returns the bytes of those of digests kept inline.
	InlineBlobs(ctx context.Context, digests []digest.Digest) (map[digest.Digest][]byte, error)
	// TagsOf lists the tags of repo that point at d, in byte order.
	TagsOf(ctx context.Context, repo string, d digest.Digest) ([]string, error)
	// NewestManifests returns, for each of names that has a tag, the
	// manifest of the tag set last (NewestTag's), whose content describes
	// the repository.
	NewestManifests(ctx context.Context, names []string) (map[string]*Manifest, error)
	// ManifestsOf returns those of refs that exist: manifests of many
	// repositories at once.
	ManifestsOf(ctx context.Context, refs []RepoDigest) (map[RepoDigest]*Manifest, error)
	// ManifestRepos lists up to n of the repositories holding manifest d,
	// oldest repository first (a manifest may be in very many).
	ManifestRepos(ctx context.Context, d digest.Digest, n int) ([]string, error)
}

// RepoSummaries implements Browser.
func (s *SQL) RepoSummaries(ctx context.Context, names []string) (map[string]RepoSummary, error) {
	out := make(map[string]RepoSummary, len(names))
	args := make([]any, 0, len(names))
	for _, n := range names {
		if s.storable(n) {
			args = append(args, n)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT r.name, COUNT(t.name), COALESCE(MAX(t.updated_at), 0)
		FROM repositories r LEFT JOIN tags t ON t.repo_id = r.id
		WHERE r.name IN (`+placeholders(len(args))+`) GROUP BY r.name`), args...)
	if err != nil {
		return nil, fmt.Errorf("summarize repositories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var sum RepoSummary
		var last int64
		if err := rows.Scan(&name, &sum.Tags, &last); err != nil {
			return nil, fmt.Errorf("summarize repositories: %w", err)
		}
		if last > 0 {
			sum.LastPush = time.UnixMilli(last)
		}
		out[name] = sum
	}
	return out, rows.Err()
}

// TagRecords implements Browser.
func (s *SQL) TagRecords(ctx context.Context, repo, last string, n int) ([]TagRecord, error) {
	op, last, ok := s.after(last)
	if !ok || !s.storable(repo) {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT t.name, t.manifest_digest, t.updated_at, m.media_type, m.payload
		FROM tags t JOIN repositories r ON r.id = t.repo_id
		JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.manifest_digest
		WHERE r.name = ? AND t.name `+op+` ? ORDER BY t.name LIMIT ?`), repo, last, n)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []TagRecord
	for rows.Next() {
		var t TagRecord
		var d string
		var updated int64
		if err := rows.Scan(&t.Name, &d, &updated, &t.MediaType, &t.Payload); err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", repo, err)
		}
		t.Digest, t.Updated = digest.Digest(d), time.UnixMilli(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ManifestsByDigest implements Browser.
func (s *SQL) ManifestsByDigest(ctx context.Context, repo string, digests []digest.Digest) (map[digest.Digest]*Manifest, error) {
	out := make(map[digest.Digest]*Manifest, len(digests))
	args := []any{repo}
	for _, d := range digests {
		if s.storable(d.String()) {
			args = append(args, d.String())
		}
	}
	if len(args) == 1 || !s.storable(repo) {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT m.digest, m.media_type, m.artifact_type, m.payload, m.created_at
		FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = ? AND m.digest IN (`+placeholders(len(args)-1)+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("read manifests of %s: %w", repo, err)
	}
	defer rows.Close()
	for rows.Next() {
		m := &Manifest{}
		var d string
		var created int64
		if err := rows.Scan(&d, &m.MediaType, &m.ArtifactType, &m.Payload, &created); err != nil {
			return nil, fmt.Errorf("read manifests of %s: %w", repo, err)
		}
		m.Digest, m.CreatedAt = digest.Digest(d), time.UnixMilli(created)
		out[m.Digest] = m
	}
	return out, rows.Err()
}

// InlineBlobs implements Browser.
func (s *SQL) InlineBlobs(ctx context.Context, digests []digest.Digest) (map[digest.Digest][]byte, error) {
	out := make(map[digest.Digest][]byte, len(digests))
	var args []any
	for _, d := range digests {
		if s.storable(d.String()) {
			args = append(args, d.String())
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT digest, content FROM blobs
		WHERE digest IN (`+placeholders(len(args))+`) AND content IS NOT NULL`), args...)
	if err != nil {
		return nil, fmt.Errorf("read inline blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var content inlineBytes
		if err := rows.Scan(&d, &content); err != nil {
			return nil, fmt.Errorf("read inline blobs: %w", err)
		}
		out[digest.Digest(d)] = content
	}
	return out, rows.Err()
}

// TagsOf implements Browser.
func (s *SQL) TagsOf(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	if !s.storable(repo, d.String()) {
		return []string{}, nil
	}
	tags, err := s.names(ctx, `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = ? AND t.manifest_digest = ? ORDER BY t.name LIMIT ?`, -1, repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("tags of %s@%s: %w", repo, d, err)
	}
	return tags, nil
}

// NewestManifests implements Browser: one window query over the page's
// repositories instead of a NewestTag and a manifest read per repository.
func (s *SQL) NewestManifests(ctx context.Context, names []string) (map[string]*Manifest, error) {
	out := make(map[string]*Manifest, len(names))
	var args []any
	for _, n := range names {
		if s.storable(n) {
			args = append(args, n)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT name, digest, media_type, payload FROM (
			SELECT r.name, m.digest, m.media_type, m.payload,
				ROW_NUMBER() OVER (PARTITION BY t.repo_id ORDER BY t.updated_at DESC, t.name DESC) AS rn
			FROM repositories r JOIN tags t ON t.repo_id = r.id
			JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.manifest_digest
			WHERE r.name IN (`+placeholders(len(args))+`)
		) newest WHERE rn = 1`), args...)
	if err != nil {
		return nil, fmt.Errorf("newest manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, d string
		m := &Manifest{}
		if err := rows.Scan(&name, &d, &m.MediaType, &m.Payload); err != nil {
			return nil, fmt.Errorf("newest manifests: %w", err)
		}
		m.Digest = digest.Digest(d)
		out[name] = m
	}
	return out, rows.Err()
}

// ManifestRepos implements Browser: in repository id order, which the
// index on (digest, repo_id) gives without sorting the matches.
func (s *SQL) ManifestRepos(ctx context.Context, d digest.Digest, n int) ([]string, error) {
	if !s.storable(d.String()) {
		return []string{}, nil
	}
	names, err := s.names(ctx, `SELECT r.name FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE m.digest = ? ORDER BY m.repo_id LIMIT ?`, n, d.String())
	if err != nil {
		return nil, fmt.Errorf("repositories of %s: %w", d, err)
	}
	return names, nil
}

// ManifestsOf implements Browser.
func (s *SQL) ManifestsOf(ctx context.Context, refs []RepoDigest) (map[RepoDigest]*Manifest, error) {
	out := make(map[RepoDigest]*Manifest, len(refs))
	var where []string
	var args []any
	for _, r := range refs {
		if s.storable(r.Repo, r.Digest.String()) {
			where = append(where, "(r.name = ? AND m.digest = ?)")
			args = append(args, r.Repo, r.Digest.String())
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT r.name, m.digest, m.media_type, m.payload
		FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE `+strings.Join(where, " OR ")), args...)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, d string
		m := &Manifest{}
		if err := rows.Scan(&name, &d, &m.MediaType, &m.Payload); err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		m.Digest = digest.Digest(d)
		out[RepoDigest{name, m.Digest}] = m
	}
	return out, rows.Err()
}

package meta

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// BlobRecord is a blob row.
type BlobRecord struct {
	Digest digest.Digest
	Size   int64
	// Content holds the bytes of a blob kept inline; nil when they are in
	// the blob store.
	Content []byte
}

// ManifestRecord is a stored manifest with its repository and references,
// for integrity checks.
type ManifestRecord struct {
	RepoID  int64
	Repo    string
	Digest  digest.Digest
	Payload []byte
	Refs    []Ref
}

// RepoUsage is the storage a repository accounts for.
type RepoUsage struct {
	Repo string
	// Blobs and Bytes count the blobs the repository may serve.
	Blobs int64
	Bytes int64
	// ExclusiveBytes counts the bytes of blobs no other repository has:
	// what deleting the repository would free.
	ExclusiveBytes int64
	Manifests      int64
	Tags           int64
}

// Inspector lists everything, page by page, for scrub and du.
type Inspector interface {
	// BlobPage lists blob rows in digest order after the digest after.
	BlobPage(ctx context.Context, after string, n int) ([]BlobRecord, error)
	// ManifestPage lists manifests ordered by (repository id, digest) after
	// the given position, with their references.
	ManifestPage(ctx context.Context, afterRepo int64, afterDigest string, n int) ([]ManifestRecord, error)
	// Usage reports per repository what it stores.
	Usage(ctx context.Context) ([]RepoUsage, error)
}

// BlobPage implements Inspector.
func (s *SQL) BlobPage(ctx context.Context, after string, n int) ([]BlobRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT digest, size, content FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`), after, n)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	defer rows.Close()
	var out []BlobRecord
	for rows.Next() {
		var b BlobRecord
		var d string
		if err := rows.Scan(&d, &b.Size, (*inlineBytes)(&b.Content)); err != nil {
			return nil, fmt.Errorf("list blobs: %w", err)
		}
		b.Digest = digest.Digest(d)
		out = append(out, b)
	}
	return out, rows.Err()
}

// ManifestPage implements Inspector.
func (s *SQL) ManifestPage(ctx context.Context, afterRepo int64, afterDigest string, n int) ([]ManifestRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT m.repo_id, r.name, m.digest, m.payload FROM manifests m
		JOIN repositories r ON r.id = m.repo_id
		WHERE m.repo_id > ? OR (m.repo_id = ? AND m.digest > ?)
		ORDER BY m.repo_id, m.digest LIMIT ?`), afterRepo, afterRepo, afterDigest, n)
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	var out []ManifestRecord
	for rows.Next() {
		var m ManifestRecord
		var d string
		if err := rows.Scan(&m.RepoID, &m.Repo, &d, &m.Payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list manifests: %w", err)
		}
		m.Digest = digest.Digest(d)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	for i := range out {
		if out[i].Refs, err = s.manifestRefs(ctx, s.r, out[i].RepoID, out[i].Digest); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Usage implements Inspector. Sums are cast to BIGINT: PostgreSQL sums
// BIGINT columns as NUMERIC.
func (s *SQL) Usage(ctx context.Context) ([]RepoUsage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.name,
		(SELECT COUNT(*) FROM repository_blobs rb WHERE rb.repo_id = r.id),
		(SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo_id = r.id),
		(SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo_id = r.id
			AND NOT EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = rb.digest AND o.repo_id <> r.id)),
		(SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id),
		(SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id)
		FROM repositories r ORDER BY r.name`)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var out []RepoUsage
	for rows.Next() {
		var u RepoUsage
		if err := rows.Scan(&u.Repo, &u.Blobs, &u.Bytes, &u.ExclusiveBytes, &u.Manifests, &u.Tags); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

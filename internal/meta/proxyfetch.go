package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// FetchLeases are the pull-through cache's cluster-wide fetch leases.
type FetchLeases interface {
	// ClaimFetch takes the lease on key for ttl unless another holder's
	// lease is still running; it reports whether the caller holds it.
	ClaimFetch(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// RenewFetch extends a held lease.
	RenewFetch(ctx context.Context, key string, ttl time.Duration) error
	// ReleaseFetch ends a lease.
	ReleaseFetch(ctx context.Context, key string) error
}

// ClaimFetch implements FetchLeases: an expired lease is removed, then the
// row is inserted unless present, in one transaction.
func (s *SQL) ClaimFetch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	// Waiting nodes poll: a read answers them while the lease runs, and
	// only a free or lapsed lease costs a write transaction.
	var expires int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT expires_at FROM proxy_fetches WHERE fetch_key = ?`), key).Scan(&expires)
	if err == nil && expires >= s.millis() {
		return false, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("read fetch lease: %w", err)
	}
	claimed := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		now := s.millis()
		if _, err := s.exec(ctx, tx, `DELETE FROM proxy_fetches WHERE fetch_key = ? AND expires_at < ?`, key, now); err != nil {
			return fmt.Errorf("expire fetch lease: %w", err)
		}
		res, err := s.exec(ctx, tx, `INSERT INTO proxy_fetches (fetch_key, expires_at) VALUES (?, ?) ON CONFLICT (fetch_key) DO NOTHING`, key, now+ttl.Milliseconds())
		if err != nil {
			return fmt.Errorf("claim fetch lease: %w", err)
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}

// RenewFetch implements FetchLeases.
func (s *SQL) RenewFetch(ctx context.Context, key string, ttl time.Duration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE proxy_fetches SET expires_at = ? WHERE fetch_key = ?`, s.millis()+ttl.Milliseconds(), key)
		if err != nil {
			return fmt.Errorf("renew fetch lease: %w", err)
		}
		return nil
	})
}

// ReleaseFetch implements FetchLeases.
func (s *SQL) ReleaseFetch(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM proxy_fetches WHERE fetch_key = ?`, key); err != nil {
			return fmt.Errorf("release fetch lease: %w", err)
		}
		return nil
	})
}

// CachedManifest is a manifest of a cached repository, as eviction sees it.
type CachedManifest struct {
	Repo   string
	Digest digest.Digest
	// AccessedAt is when it was last pulled (its creation if never since).
	AccessedAt time.Time
	// Bytes is the size of the blobs it references that the registry holds.
	Bytes int64
}

// CacheUsage is the pull-through cache's view of the metadata store.
type CacheUsage interface {
	// TouchCached records a pull of manifest d of a cached repository.
	TouchCached(ctx context.Context, repo string, d digest.Digest) error
	// PrefixBytes is the size of the distinct blobs that manifests of the
	// repositories whose names start with prefix reference and hold. Links
	// no manifest references (garbage the collector has yet to take, or
	// blobs whose manifest is still to come) do not count: a cap is about
	// what the caches keep.
	PrefixBytes(ctx context.Context, prefix string) (int64, error)
	// LeastRecentlyPulled lists up to n manifests of repositories under
	// prefix, least recently pulled first.
	LeastRecentlyPulled(ctx context.Context, prefix string, n int) ([]CachedManifest, error)
	// ForgetCached drops the access record of an evicted manifest.
	ForgetCached(ctx context.Context, repo string, d digest.Digest) error
}

// prefixRange turns a name prefix into a half-open range of names, which
// an index serves (LIKE would need escaping, and '_' is a name character).
func prefixRange(prefix string) (string, string) {
	if prefix == "" {
		return "", "\U0010FFFF"
	}
	last := prefix[len(prefix)-1]
	return prefix, prefix[:len(prefix)-1] + string(rune(last+1))
}

// TouchCached implements CacheUsage.
func (s *SQL) TouchCached(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO proxy_access (repo, digest, accessed_at) VALUES (?, ?, ?)
			ON CONFLICT (repo, digest) DO UPDATE SET accessed_at = excluded.accessed_at`, repo, d.String(), s.millis())
		if err != nil {
			return fmt.Errorf("record pull of %s@%s: %w", repo, d, err)
		}
		return nil
	})
}

// PrefixBytes implements CacheUsage.
func (s *SQL) PrefixBytes(ctx context.Context, prefix string) (int64, error) {
	lo, hi := prefixRange(prefix)
	var n int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b
		WHERE b.digest IN (SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repo_id
			WHERE r.name >= ? AND r.name < ?
			AND EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = rb.repo_id AND mr.ref_digest = rb.digest))`), lo, hi).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("bytes under %s: %w", prefix, err)
	}
	return n, nil
}

// LeastRecentlyPulled implements CacheUsage.
func (s *SQL) LeastRecentlyPulled(ctx context.Context, prefix string, n int) ([]CachedManifest, error) {
	lo, hi := prefixRange(prefix)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT r.name, m.digest, COALESCE(a.accessed_at, m.created_at) AS at,
		(SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM manifest_refs mr JOIN blobs b ON b.digest = mr.ref_digest
			WHERE mr.repo_id = m.repo_id AND mr.manifest_digest = m.digest AND mr.kind = ?)
		FROM manifests m JOIN repositories r ON r.id = m.repo_id
		LEFT JOIN proxy_access a ON a.repo = r.name AND a.digest = m.digest
		WHERE r.name >= ? AND r.name < ?
		ORDER BY at, r.name, m.digest LIMIT ?`), int(RefBlob), lo, hi, n)
	if err != nil {
		return nil, fmt.Errorf("least recently pulled under %s: %w", prefix, err)
	}
	defer rows.Close()
	var out []CachedManifest
	for rows.Next() {
		var c CachedManifest
		var d string
		var at int64
		if err := rows.Scan(&c.Repo, &d, &at, &c.Bytes); err != nil {
			return nil, fmt.Errorf("least recently pulled: %w", err)
		}
		c.Digest, c.AccessedAt = digest.Digest(d), time.UnixMilli(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ForgetCached implements CacheUsage.
func (s *SQL) ForgetCached(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM proxy_access WHERE repo = ? AND digest = ?`, repo, d.String()); err != nil {
			return fmt.Errorf("forget pull of %s@%s: %w", repo, d, err)
		}
		return nil
	})
}

// LinkedBytes is the size of the distinct blobs linked to the repositories
// whose names start with one of prefixes (inside), or with none of them
// (!inside): what `wharf du` reports as cached and hosted.
func (s *SQL) LinkedBytes(ctx context.Context, prefixes []string, inside bool) (int64, error) {
	conds := make([]string, 0, len(prefixes))
	args := make([]any, 0, 2*len(prefixes))
	for _, p := range prefixes {
		lo, hi := prefixRange(p)
		conds = append(conds, "(r.name >= ? AND r.name < ?)")
		args = append(args, lo, hi)
	}
	where := "1 = 1"
	if len(conds) > 0 {
		where = "(" + strings.Join(conds, " OR ") + ")"
	} else if inside {
		return 0, nil
	}
	if !inside {
		where = "NOT " + where
	}
	var n int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b
		WHERE b.digest IN (SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repo_id WHERE `+where+`)`), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("linked bytes: %w", err)
	}
	return n, nil
}

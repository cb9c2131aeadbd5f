package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/opencontainers/go-digest"
)

// CandidateKind says what a garbage candidate is.
type CandidateKind int

// Candidate kinds, as stored in gc_queue.kind.
const (
	CandidateLink     CandidateKind = 1 // a repository's link to a blob
	CandidateBlob     CandidateKind = 2 // a blob (bytes and row)
	CandidateManifest CandidateKind = 3 // a manifest that may be untagged
	// CandidateBytes is a removed blob's bytes, deleted in a transaction of
	// their own after the row's removal committed: a crash between removing
	// bytes and committing can then never leave a row without bytes.
	CandidateBytes CandidateKind = 4
)

func (k CandidateKind) String() string {
	switch k {
	case CandidateLink:
		return "link"
	case CandidateBlob:
		return "blob"
	case CandidateManifest:
		return "manifest"
	case CandidateBytes:
		return "bytes"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Candidate is one entry of the garbage collector's review queue.
type Candidate struct {
	Kind       CandidateKind
	RepoID     int64
	Repo       string // empty for blobs
	Digest     digest.Digest
	Fresh      bool // created, never referenced yet: reviewed after the grace period
	EnqueuedAt int64
	// TouchedAt is when a HEAD or GET last reported the link present while
	// it was queued (Unix milliseconds), 0 if never.
	TouchedAt int64
}

// Removal is something the garbage collector removed (or, in a dry run,
// would remove).
type Removal struct {
	Kind   CandidateKind
	Repo   string
	Digest digest.Digest
	Size   int64 // bytes freed, for blobs
}

// ReviewOptions steer one review.
type ReviewOptions struct {
	// DeleteUntagged removes manifests no tag, index or kept subject needs.
	DeleteUntagged bool
	// KeepReferrers keeps the referrers of a removed manifest.
	KeepReferrers bool
	// RemoveBytes deletes a blob's bytes. It runs inside the transaction
	// that removes the blob's row, after the last check that nothing
	// references it; an error rolls the removal back.
	RemoveBytes func(digest.Digest) error
}

// TagInfo is a tag with the time it was last pushed, for retention.
type TagInfo struct {
	Name      string
	Digest    digest.Digest
	UpdatedAt time.Time
}

// GCTx is one metadata transaction of the garbage collector.
type GCTx interface {
	// Due lists up to limit candidates ready for review: those whose last
	// reference went, and fresh ones enqueued before freshBefore; of these,
	// links a HEAD or GET reported present only if that was before
	// freshBefore too (unless IgnoreTouches was called).
	Due(ctx context.Context, freshBefore time.Time, limit int) ([]Candidate, error)
	// IgnoreTouches makes this transaction's Due list touched links as if
	// no HEAD or GET had reported them present: what an operator's
	// explicit collection does (wharf garbage-collect).
	IgnoreTouches()
	// Review claims c and removes it if nothing references it any more,
	// checked inside this transaction. It returns what it removed; nothing
	// when another worker claimed c first.
	Review(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error)
	// EnqueueUnreferenced queues everything without a reference that the
	// queue may have missed (a full sweep), and with deleteUntagged every
	// untagged manifest. It returns how many candidates it added.
	EnqueueUnreferenced(ctx context.Context, deleteUntagged bool) (int, error)
	// RetentionTags lists a repository's tags with their push times.
	RetentionTags(ctx context.Context, repo string) ([]TagInfo, error)
	// DeleteTag removes a tag; its manifest becomes a candidate.
	DeleteTag(ctx context.Context, repo, tag string) error
	// ForgetRemovals forgets the content repositories lost before before:
	// a sparse manifest may then reference it again (see PutManifest).
	ForgetRemovals(ctx context.Context, before time.Time) (int, error)
}

// enqueue makes something a garbage candidate. A candidate queued again is
// reset to the newer origin and time; a touch it had stays (touchLink).
func (s *SQL) enqueue(ctx context.Context, tx *sql.Tx, kind CandidateKind, repoID int64, d digest.Digest, fresh bool) error {
	f := 0
	if fresh {
		f = 1
	}
	_, err := s.exec(ctx, tx, `INSERT INTO gc_queue (kind, repo_id, digest, fresh, enqueued_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, repo_id, digest) DO UPDATE SET fresh = excluded.fresh, enqueued_at = excluded.enqueued_at`,
		int(kind), repoID, d.String(), f, s.millis())
	if err != nil {
		return fmt.Errorf("queue %s %s for review: %w", kind, d, err)
	}
	return nil
}

// GC runs fn in one write transaction, committed if commit is true and fn
// succeeds, rolled back otherwise (a dry run sees exactly what a real run
// would do, then undoes it).
func (s *SQL) GC(ctx context.Context, commit bool, fn func(GCTx) error) error {
	err := s.gc(ctx, commit, fn)
	if errors.Is(err, ErrFull) {
		s.prepareWrite()
	}
	return err
}

func (s *SQL) gc(ctx context.Context, commit bool, fn func(GCTx) error) error {
	s.prepareWrite()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("metadata: begin: %w", err)
	}
	if err := fn(&gcTx{s: s, tx: tx}); err != nil {
		tx.Rollback()
		return full(err)
	}
	if !commit {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return full(fmt.Errorf("metadata: commit: %w", err))
	}
	return nil
}

type gcTx struct {
	s             *SQL
	tx            *sql.Tx
	ignoreTouches bool
}

// IgnoreTouches implements GCTx.
func (g *gcTx) IgnoreTouches() { g.ignoreTouches = true }

func (g *gcTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return g.s.exec(ctx, g.tx, q, args...)
}

func (g *gcTx) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := g.tx.QueryRowContext(ctx, g.s.d.rebind(q), args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Due implements GCTx.
//
// PostgreSQL: the candidates listed are locked until the transaction ends,
// and candidates another collector's transaction holds are skipped, so
// collectors on several nodes take different candidates instead of waiting
// for each other (the claim in Review would make double processing
// harmless, but the second collector would wait for the first to commit).
func (g *gcTx) Due(ctx context.Context, freshBefore time.Time, limit int) ([]Candidate, error) {
	touchedBefore := freshBefore.UnixMilli()
	if g.ignoreTouches {
		touchedBefore = math.MaxInt64
	}
	rows, err := g.tx.QueryContext(ctx, g.s.d.rebind(`SELECT q.kind, q.repo_id, COALESCE(r.name, ''), q.digest, q.fresh, q.enqueued_at, COALESCE(q.touched_at, 0)
		FROM gc_queue q LEFT JOIN repositories r ON r.id = q.repo_id
		WHERE (q.fresh = 0 OR q.enqueued_at < ?) AND (q.touched_at IS NULL OR q.touched_at < ?)
		ORDER BY q.kind, q.enqueued_at, q.repo_id, q.digest LIMIT ?`+g.s.d.forUpdateSkipLocked("q")), freshBefore.UnixMilli(), touchedBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("list garbage candidates: %w", err)
	}
	defer rows.Close()
	var out []Candidate
	for rows.Next() {
		var c Candidate
		var dg string
		var fresh int
		if err := rows.Scan(&c.Kind, &c.RepoID, &c.Repo, &dg, &fresh, &c.EnqueuedAt, &c.TouchedAt); err != nil {
			return nil, fmt.Errorf("list garbage candidates: %w", err)
		}
		c.Digest, c.Fresh = digest.Digest(dg), fresh == 1
		out = append(out, c)
	}
	return out, rows.Err()
}

// Review implements GCTx.
//
// PostgreSQL: each review runs under a savepoint. If PostgreSQL breaks a
// deadlock between this transaction and a push by aborting the review, the
// review alone is rolled back (the candidate stays queued for a later
// round) and the rest of the batch goes on: above all, a blob whose bytes
// an earlier review of the batch deleted never gets its row back from a
// rollback of the whole transaction.
func (g *gcTx) Review(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error) {
	if !g.s.d.rowLocks {
		return g.review(ctx, c, opts)
	}
	if _, err := g.tx.ExecContext(ctx, `SAVEPOINT gc_review`); err != nil {
		return nil, wrapReview(c, err)
	}
	out, err := g.review(ctx, c, opts)
	if err != nil {
		if _, rerr := g.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT gc_review`); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		if retryable(err) {
			return nil, nil
		}
		return nil, err
	}
	if _, err := g.tx.ExecContext(ctx, `RELEASE SAVEPOINT gc_review`); err != nil {
		return nil, wrapReview(c, err)
	}
	return out, nil
}

func (g *gcTx) review(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error) {
	// PostgreSQL: CommitBlob, LinkBlob and PutManifest of the same digest
	// hold this lock while they write; with it, a review and a push of
	// one digest never interleave (see lockDigest). Taken before the claim,
	// so that a push which requeues the candidate meanwhile makes the
	// claim fail.
	if err := g.s.lockDigest(ctx, g.tx, c.Digest); err != nil {
		return nil, wrapReview(c, err)
	}
	claimed, err := g.claim(ctx, c)
	if err != nil || !claimed {
		return nil, err
	}
	switch c.Kind {
	case CandidateLink:
		return g.reviewLink(ctx, c)
	case CandidateBlob:
		return g.reviewBlob(ctx, c, opts)
	case CandidateBytes:
		return g.reviewBytes(ctx, c, opts)
	case CandidateManifest:
		if !opts.DeleteUntagged {
			return nil, nil
		}
		return g.reviewManifest(ctx, c, opts)
	}
	return nil, fmt.Errorf("unknown garbage candidate kind %d", c.Kind)
}

// claim removes c from the queue; false when it is gone or was queued
// again or touched since it was listed (another worker has it, or it
// changed). This is the review's re-check of a touch (SQL.touchLink): a
// HEAD that touched the link after Due read it makes the claim fail.
func (g *gcTx) claim(ctx context.Context, c Candidate) (bool, error) {
	res, err := g.exec(ctx, `DELETE FROM gc_queue WHERE kind = ? AND repo_id = ? AND digest = ? AND enqueued_at = ? AND COALESCE(touched_at, 0) = ?`,
		int(c.Kind), c.RepoID, c.Digest.String(), c.EnqueuedAt, c.TouchedAt)
	if err != nil {
		return false, fmt.Errorf("claim %s %s: %w", c.Kind, c.Digest, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// reviewLink drops a repository's link to a blob no manifest there uses.
func (g *gcTx) reviewLink(ctx context.Context, c Candidate) ([]Removal, error) {
	// PostgreSQL: lock the link before looking for references. A manifest
	// push locks the links it needs FOR SHARE (checkRefs) until it
	// commits: either it committed before this lock was granted and its
	// references are seen below, or it waits for this transaction and
	// then finds the link gone (MissingRefsError).
	linked, err := g.exists(ctx, `SELECT 1 FROM repository_blobs WHERE repo_id = ? AND digest = ?`+g.s.d.forUpdate(),
		c.RepoID, c.Digest.String())
	if err != nil || !linked {
		return nil, wrapReview(c, err)
	}
	used, err := g.exists(ctx, `SELECT 1 FROM manifest_refs WHERE repo_id = ? AND ref_digest = ? AND kind = ? LIMIT 1`,
		c.RepoID, c.Digest.String(), int(RefBlob))
	if err != nil || used {
		return nil, wrapReview(c, err)
	}
	res, err := g.exec(ctx, `DELETE FROM repository_blobs WHERE repo_id = ? AND digest = ?`, c.RepoID, c.Digest.String())
	if err != nil {
		return nil, wrapReview(c, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	if err := g.s.markRemoved(ctx, g.tx, c.RepoID, c.Digest); err != nil {
		return nil, err
	}
	if err := g.s.enqueue(ctx, g.tx, CandidateBlob, 0, c.Digest, false); err != nil {
		return nil, err
	}
	return []Removal{{Kind: CandidateLink, Repo: c.Repo, Digest: c.Digest}}, nil
}

// reviewBlob removes the row of a blob no repository links to and queues
// its bytes. Links to a blob are only made by CommitBlob and LinkBlob, which
// hold the blob's digest lock as Review does (PostgreSQL): nothing can link
// it between the check below and the removal of the row.
func (g *gcTx) reviewBlob(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error) {
	linked, err := g.exists(ctx, `SELECT 1 FROM repository_blobs WHERE digest = ? LIMIT 1`, c.Digest.String())
	if err != nil || linked {
		return nil, wrapReview(c, err)
	}
	var size int64
	var inline bool
	err = g.tx.QueryRowContext(ctx, g.s.d.rebind(`SELECT size, content IS NOT NULL FROM blobs WHERE digest = ?`), c.Digest.String()).Scan(&size, &inline)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapReview(c, err)
	}
	if _, err := g.exec(ctx, `DELETE FROM blobs WHERE digest = ?`, c.Digest.String()); err != nil {
		return nil, wrapReview(c, err)
	}
	// Inline bytes went with the row; only the blob store's need a review.
	if !inline {
		if err := g.s.enqueue(ctx, g.tx, CandidateBytes, 0, c.Digest, false); err != nil {
			return nil, err
		}
	}
	return []Removal{{Kind: CandidateBlob, Digest: c.Digest, Size: size}}, nil
}

// reviewBytes deletes the bytes of a blob whose row is gone, unless a push
// recorded the blob again meanwhile (its bytes are then the new ones). The
// bytes go inside this transaction, after the check; if the process dies
// before the commit, the candidate stays queued and the deletion is simply
// done again. PostgreSQL: CommitBlob holds the digest lock Review took, so
// a push of the blob either committed before the check (the row is back
// and the bytes stay) or waits until the bytes are gone and then puts its
// own in place.
func (g *gcTx) reviewBytes(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error) {
	back, err := g.exists(ctx, `SELECT 1 FROM blobs WHERE digest = ?`, c.Digest.String())
	if err != nil || back {
		return nil, wrapReview(c, err)
	}
	if opts.RemoveBytes != nil {
		if err := opts.RemoveBytes(c.Digest); err != nil {
			return nil, fmt.Errorf("remove bytes of %s: %w", c.Digest, err)
		}
	}
	return nil, nil
}

// reviewManifest removes a manifest nothing keeps: no tag, no index in the
// repository listing it, and no subject that is itself kept.
func (g *gcTx) reviewManifest(ctx context.Context, c Candidate, opts ReviewOptions) ([]Removal, error) {
	// PostgreSQL: lock the manifest before the checks. An index push
	// locks its child manifests FOR SHARE (checkRefs) until it commits, so
	// either its reference to this manifest is seen below or it finds the
	// manifest gone. A tag push of this manifest holds its digest lock,
	// taken by Review too.
	var subject sql.NullString
	err := g.tx.QueryRowContext(ctx, g.s.d.rebind(`SELECT subject FROM manifests WHERE repo_id = ? AND digest = ?`+g.s.d.forUpdate()),
		c.RepoID, c.Digest.String()).Scan(&subject)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapReview(c, err)
	}
	checks := []struct {
		q    string
		args []any
	}{
		{`SELECT 1 FROM tags WHERE repo_id = ? AND manifest_digest = ? LIMIT 1`, []any{c.RepoID, c.Digest.String()}},
		{`SELECT 1 FROM manifest_refs WHERE repo_id = ? AND ref_digest = ? AND kind = ? LIMIT 1`, []any{c.RepoID, c.Digest.String(), int(RefManifest)}},
	}
	if subject.Valid {
		checks = append(checks, struct {
			q    string
			args []any
		}{`SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?`, []any{c.RepoID, subject.String}})
	}
	for _, chk := range checks {
		kept, err := g.exists(ctx, chk.q, chk.args...)
		if err != nil || kept {
			return nil, wrapReview(c, err)
		}
	}
	deleted, err := g.s.deleteManifestTx(ctx, g.tx, c.RepoID, c.Digest, opts.KeepReferrers)
	if err != nil {
		return nil, err
	}
	out := make([]Removal, len(deleted))
	for i, d := range deleted {
		out[i] = Removal{Kind: CandidateManifest, Repo: c.Repo, Digest: d}
	}
	return out, nil
}

func wrapReview(c Candidate, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("review %s %s: %w", c.Kind, c.Digest, err)
}

// EnqueueUnreferenced implements GCTx. Links keep their creation time as
// their queue time, so the grace period still protects recent pushes.
func (g *gcTx) EnqueueUnreferenced(ctx context.Context, deleteUntagged bool) (int, error) {
	queries := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO gc_queue (kind, repo_id, digest, fresh, enqueued_at)
			SELECT ?, rb.repo_id, rb.digest, 1, rb.created_at FROM repository_blobs rb
			WHERE NOT EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = rb.repo_id AND mr.ref_digest = rb.digest AND mr.kind = ?)
			ON CONFLICT (kind, repo_id, digest) DO NOTHING`, []any{int(CandidateLink), int(RefBlob)}},
		{`INSERT INTO gc_queue (kind, repo_id, digest, fresh, enqueued_at)
			SELECT ?, 0, b.digest, 1, b.created_at FROM blobs b
			WHERE NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
			ON CONFLICT (kind, repo_id, digest) DO NOTHING`, []any{int(CandidateBlob)}},
	}
	if deleteUntagged {
		queries = append(queries, struct {
			q    string
			args []any
		}{`INSERT INTO gc_queue (kind, repo_id, digest, fresh, enqueued_at)
			SELECT ?, m.repo_id, m.digest, 1, m.created_at FROM manifests m
			WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.manifest_digest = m.digest)
			ON CONFLICT (kind, repo_id, digest) DO NOTHING`, []any{int(CandidateManifest)}})
	}
	total := 0
	for _, q := range queries {
		res, err := g.exec(ctx, q.q, q.args...)
		if err != nil {
			return total, fmt.Errorf("sweep for garbage: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}

// RetentionTags implements GCTx.
func (g *gcTx) RetentionTags(ctx context.Context, repo string) ([]TagInfo, error) {
	rows, err := g.tx.QueryContext(ctx, g.s.d.rebind(`SELECT t.name, t.manifest_digest, t.updated_at FROM tags t
		JOIN repositories r ON r.id = t.repo_id WHERE r.name = ? ORDER BY t.updated_at DESC, t.name`), repo)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []TagInfo
	for rows.Next() {
		var t TagInfo
		var dg string
		var updated int64
		if err := rows.Scan(&t.Name, &dg, &updated); err != nil {
			return nil, fmt.Errorf("tags of %s: %w", repo, err)
		}
		t.Digest, t.UpdatedAt = digest.Digest(dg), time.UnixMilli(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteTag implements GCTx.
func (g *gcTx) DeleteTag(ctx context.Context, repo, tag string) error {
	return g.s.deleteTagTx(ctx, g.tx, repo, tag)
}

// ForgetRemovals implements GCTx.
func (g *gcTx) ForgetRemovals(ctx context.Context, before time.Time) (int, error) {
	res, err := g.exec(ctx, `DELETE FROM removed_refs WHERE removed_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("forget old removals: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// defaultTouchAfter is how old a link's last touch (or, for a fresh
// candidate, its queue time) may get before a HEAD or GET reporting the
// link present records a new touch, until SetGracePeriod says otherwise.
const defaultTouchAfter = time.Minute

// SetGracePeriod tells the store the garbage collector's grace period, so
// that a HEAD or GET which reports a blob present in a repository protects
// the repository's link for that long (see touchLink; a mount queues the
// link fresh, which does the same). A touch is recorded at most once every
// tenth of the grace period (capped at a minute), so a link stays at least
// the grace period minus that after it was reported present. With no grace
// period nothing is protected and nothing is written. Call it before the
// store is used.
func (s *SQL) SetGracePeriod(grace time.Duration) {
	switch {
	case grace <= 0:
		s.touchAfter = -1
	case grace/10 < defaultTouchAfter:
		s.touchAfter = grace / 10
	default:
		s.touchAfter = defaultTouchAfter
	}
}

// touchColumn is the column of a HEAD's or GET's query (over
// repository_blobs rb, joined with touchJoin) that says whether the link it
// reads must be touched: 0 when not, else the link's repository id, which
// the touch needs. A link is touched when it is queued for review (q.kind
// 1, a link candidate), neither a recent push (a fresh candidate) nor a
// recent touch keeps it for about the grace period already, and no
// manifest references it (mr.kind 1, a blob reference). The two arguments
// are the cut-off for "recent" (touchArgs). The hot path, a link with no
// queue row (referenced, or reviewed and kept since), costs one primary key
// lookup and one integer column, and writes nothing; the reference check
// runs only for a queued link.
const (
	touchColumn = `, CASE WHEN q.kind IS NULL THEN 0
		WHEN (q.fresh = 1 AND q.enqueued_at >= ?) OR q.touched_at >= ? THEN 0
		WHEN EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = rb.repo_id AND mr.ref_digest = rb.digest AND mr.kind = 1) THEN 0
		ELSE rb.repo_id END`
	touchJoin = ` LEFT JOIN gc_queue q ON q.kind = 1 AND q.repo_id = rb.repo_id AND q.digest = rb.digest`

	// stableColumn (same joins) is 1 when touchColumn's answer can change
	// only by a commit: the link is not queued, or a manifest references
	// it. Otherwise time alone can make a touch due, and the read cache
	// must not keep the answer.
	stableColumn = `, CASE WHEN q.kind IS NULL THEN 1
		WHEN EXISTS (SELECT 1 FROM manifest_refs mr WHERE mr.repo_id = rb.repo_id AND mr.ref_digest = rb.digest AND mr.kind = 1) THEN 1
		ELSE 0 END`
)

// touchArgs are the arguments of touchColumn, ahead of the query's own.
func (s *SQL) touchArgs(args ...any) []any {
	recent := s.now().Add(-s.touchAfter).UnixMilli()
	return append([]any{recent, recent}, args...)
}

// touchLink records that a HEAD or GET has just reported the link of
// repository repoID to d present, so that the collector leaves it for the
// grace period: the client told "present" skips the upload and puts a
// manifest referencing it next. It returns ErrNotFound when the link is
// gone by the time the touch commits: the client is then told "absent"
// and uploads the blob.
//
// Only a queued link that no manifest references is touched; a touch
// stays when the link is queued again (a manifest referencing it deleted
// meanwhile). A referenced link's removal needs the deletion of its last
// manifest, which queues it for review at once, pulled or not: that is
// what frees an image's layers as soon as it is deleted and collected. So
// a push whose HEAD came before that deletion is not protected: at
// collection time it looks exactly like a pull before the deletion. An
// operator's explicit collection (GCTx.IgnoreTouches) ignores touches.
//
// Why the client never hears "present" for a link the collector removes
// within the grace period:
//   - The collector claims a candidate (gcTx.claim) by deleting its queue
//     row with the enqueued_at and touched_at it listed, in the
//     transaction that removes the link: a touch after the listing makes
//     the claim fail, and a listing after the touch leaves the link out.
//   - SQLite: the touch is a write transaction, so it runs wholly before or
//     after a collector's transaction. After: the link check below finds
//     the link gone.
//   - PostgreSQL: Due locks the rows it lists FOR UPDATE. If a review holds
//     this row, the UPDATE waits until the review's transaction ends, then
//     finds the row deleted (it changes nothing) and the link check, a
//     later statement that sees what the review committed, finds the link
//     gone; or, if the review kept the link or rolled back, finds it. If
//     the touch locks the row first, Due skips it (SKIP LOCKED) and lists
//     it touched afterwards.
//
// The link check runs after the UPDATE for that reason; the answer to the
// client is the link check's.
func (s *SQL) touchLink(ctx context.Context, repoID int64, d digest.Digest) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if _, err := s.exec(ctx, tx, `UPDATE gc_queue SET touched_at = ?
			WHERE kind = ? AND repo_id = ? AND digest = ? AND (touched_at IS NULL OR touched_at < ?)`,
			now.UnixMilli(), int(CandidateLink), repoID, d.String(), now.Add(-s.touchAfter).UnixMilli()); err != nil {
			return fmt.Errorf("keep blob %s: %w", d, err)
		}
		var one int
		err := s.txQueryRow(ctx, tx, `SELECT 1 FROM repository_blobs WHERE repo_id = ? AND digest = ?`, repoID, d.String()).Scan(&one)
		return notFound(err, "blob %s", d)
	})
}

// keepReported touches the link a HEAD or GET read as present when its
// touchColumn, touchRepo, says so (see touchLink).
func (s *SQL) keepReported(ctx context.Context, touchRepo int64, d digest.Digest) error {
	if s.touchAfter < 0 || touchRepo == 0 {
		return nil
	}
	return s.touchLink(ctx, touchRepo, d)
}

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
// the grace period minus that after it was reported present. With no grace period nothing is
// protected and nothing is written. Call it before the store is used.
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

// linkQueue is what a HEAD or GET reads with a link about its garbage
// candidacy: its gc_queue row (fresh, enqueuedAt and touchedAt are not
// valid when it has none) and, only when it has one, whether a manifest
// references the link.
type linkQueue struct {
	fresh, enqueuedAt, touchedAt sql.NullInt64
	referenced                   sql.NullBool
}

// linkQueueColumns and linkQueueJoin are the parts of a HEAD's or GET's
// query (over repository_blobs rb) that read a linkQueue: q.kind 1 is a
// link candidate, mr.kind 1 a blob reference. The hot path, a link with no
// queue row, costs one more primary key lookup; the reference check runs
// only for a queued link.
const (
	linkQueueColumns = `, q.fresh, q.enqueued_at, q.touched_at, CASE WHEN q.fresh IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM manifest_refs mr
		WHERE mr.repo_id = rb.repo_id AND mr.ref_digest = rb.digest AND mr.kind = 1) END`
	linkQueueJoin = ` LEFT JOIN gc_queue q ON q.kind = 1 AND q.repo_id = rb.repo_id AND q.digest = rb.digest`
)

// dest returns the scan destinations of linkQueueColumns.
func (q *linkQueue) dest() []any {
	return []any{&q.fresh, &q.enqueuedAt, &q.touchedAt, &q.referenced}
}

// needsTouch reports whether a link just read present must be touched: it
// is queued for review, no manifest references it, and neither a recent
// push (a fresh candidate) nor a recent touch already keeps it for about
// the grace period. A link with no queue row is referenced (or was
// reviewed and kept since): a HEAD of it writes nothing, which is the hot
// path.
func (s *SQL) needsTouch(q linkQueue) bool {
	if s.touchAfter < 0 || !q.fresh.Valid || q.referenced.Bool {
		return false
	}
	recent := s.now().Add(-s.touchAfter).UnixMilli()
	if q.fresh.Int64 == 1 && q.enqueuedAt.Int64 >= recent {
		return false
	}
	return !q.touchedAt.Valid || q.touchedAt.Int64 < recent
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
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM repository_blobs WHERE repo_id = ? AND digest = ?`), repoID, d.String()).Scan(&one)
		return notFound(err, "blob %s", d)
	})
}

// keepReported touches the link a HEAD or GET read as present when it
// needs it (see touchLink).
func (s *SQL) keepReported(ctx context.Context, repoID int64, d digest.Digest, q linkQueue) error {
	if !s.needsTouch(q) {
		return nil
	}
	return s.touchLink(ctx, repoID, d)
}

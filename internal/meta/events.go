package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Change kinds and actions, as distribution's notifications name them.
const (
	ActionPush   = "push"
	ActionPull   = "pull"
	ActionMount  = "mount"
	ActionDelete = "delete"

	KindManifest = "manifest"
	KindBlob     = "blob"
	KindTag      = "tag"
)

// Change is one change to stored content, reported to the event hook by the
// transaction that makes it.
type Change struct {
	Action string // ActionPush, ActionMount or ActionDelete
	Kind   string // KindManifest, KindBlob or KindTag
	Repo   string
	Digest digest.Digest // empty for a tag deletion
	Tag    string
	// MediaType and Size describe pushed content; Payload is a pushed
	// manifest's bytes (its references are parsed from them).
	MediaType string
	Size      int64
	Payload   []byte
}

// OutboxEvent is an event to store and deliver: its serialized payload and
// the endpoints that want it.
type OutboxEvent struct {
	ID        string // stable, unique: receivers de-duplicate on it
	Repo      string
	Action    string
	Payload   []byte
	Endpoints []string
	CreatedAt time.Time
}

// EventHook turns the changes a transaction makes into events. It runs
// inside that transaction, so it must be quick and touch nothing outside
// it; on PostgreSQL it may run more than once for one change (a
// transaction retried after a deadlock), each time in a new transaction.
type EventHook func(ctx context.Context, changes []Change) []OutboxEvent

// DeliveryState is where an event stands with an endpoint.
type DeliveryState int

// Delivery states, as stored in event_deliveries.state.
const (
	DeliveryPending   DeliveryState = 0
	DeliveryDelivered DeliveryState = 1
	DeliveryDead      DeliveryState = 2
)

func (s DeliveryState) String() string {
	switch s {
	case DeliveryPending:
		return "pending"
	case DeliveryDelivered:
		return "delivered"
	case DeliveryDead:
		return "dead"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Delivery is one event leased to a deliverer for one endpoint.
type Delivery struct {
	Seq       int64
	EventID   string
	Endpoint  string
	Repo      string
	Payload   []byte
	Attempts  int       // attempts made before this one
	StartedAt time.Time // when delivery (re)started, for the age limit
	CreatedAt time.Time
}

// AttemptResult is the outcome of one delivery attempt and what follows.
type AttemptResult struct {
	At       time.Time
	Status   int    // HTTP status; 0 when no answer came
	Err      string // why it failed; never holds headers or secrets
	Duration time.Duration
	Node     string
	// State is the delivery's state after the attempt: delivered, pending
	// (tried again at NextAt) or dead.
	State  DeliveryState
	NextAt time.Time
}

// EventRecord is a stored event with its delivery state per endpoint.
type EventRecord struct {
	Seq        int64
	ID         string
	Repo       string
	Action     string
	Payload    []byte
	CreatedAt  time.Time
	Deliveries []DeliveryRecord
}

// DeliveryRecord is an event's delivery state for one endpoint.
type DeliveryRecord struct {
	Endpoint   string
	State      DeliveryState
	Attempts   int
	NextAt     time.Time
	LastStatus int
	LastError  string
	DoneAt     time.Time // zero while pending
	Tries      []AttemptRecord
}

// AttemptRecord is one stored delivery attempt.
type AttemptRecord struct {
	At       time.Time
	Status   int
	Err      string
	Duration time.Duration
	Node     string
}

// EventFilter selects events to list: newest first, before seq Before
// (0: from the newest), of Repo if set, at most Limit.
type EventFilter struct {
	Repo   string
	Before int64
	Limit  int
	// State, if set, keeps events with a delivery in that state.
	State *DeliveryState
}

// EventStore is the webhooks' outbox: events written with the changes they
// report, leased to deliverers per endpoint, and kept as an audit trail.
type EventStore interface {
	// SetEventHook installs the hook that turns changes into events (nil:
	// no events).
	SetEventHook(h EventHook)
	// AppendEvents stores events outside any change (pulls).
	AppendEvents(ctx context.Context, evs []OutboxEvent) error
	// ClaimDeliveries leases to owner, until leaseUntil, the deliveries of
	// endpoint due at now that are first in line for their repository (a
	// repository's next event waits until the one before is delivered or
	// dead), for at most heads repositories, each with up to run-1 due
	// deliveries that follow it, in order. Rows another node holds are
	// skipped.
	ClaimDeliveries(ctx context.Context, endpoint, owner string, now, leaseUntil time.Time, heads, run int) ([]Delivery, error)
	// FinishDelivery records an attempt and the state that follows it. It
	// reports false when owner no longer held the lease (another node
	// took the delivery over; the attempt is recorded all the same).
	FinishDelivery(ctx context.Context, d Delivery, owner string, r AttemptResult) (bool, error)
	// FinishDeliveries is FinishDelivery for many, in one transaction; a
	// nil result gives the delivery's lease back without an attempt.
	FinishDeliveries(ctx context.Context, owner string, ds []Delivery, rs []*AttemptResult) ([]bool, error)
	// EventBacklog counts the pending deliveries of endpoint and returns
	// the creation time of the oldest (zero when none).
	EventBacklog(ctx context.Context, endpoint string) (int, time.Time, error)
	// ListEvents lists events with their delivery state.
	ListEvents(ctx context.Context, f EventFilter) ([]EventRecord, error)
	// GetEvent returns one event by id with its deliveries and attempts.
	GetEvent(ctx context.Context, id string) (*EventRecord, error)
	// Redeliver makes an event pending again for endpoint (every endpoint
	// it has when endpoint is empty), due at now with fresh limits. It
	// returns how many deliveries it reset.
	Redeliver(ctx context.Context, id, endpoint string, now time.Time) (int, error)
	// PruneEvents removes events created before before that no endpoint
	// still waits for, with their attempts.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
	// ReleaseLeases frees the leases owner holds (every lease when owner
	// is empty: a single node starting again, whose old leases belong to
	// a process that is gone), so the deliveries are due at once.
	ReleaseLeases(ctx context.Context, owner string) error
}

var _ EventStore = (*SQL)(nil)

// SetEventHook implements EventStore. Call it before serving.
func (s *SQL) SetEventHook(h EventHook) { s.events = h }

// recordChanges writes the events the hook makes of changes, in tx.
func (s *SQL) recordChanges(ctx context.Context, tx *sql.Tx, changes ...Change) error {
	if s.events == nil || len(changes) == 0 {
		return nil
	}
	return s.insertEvents(ctx, tx, s.events(ctx, changes))
}

// insertEvents writes events and their delivery rows.
func (s *SQL) insertEvents(ctx context.Context, tx *sql.Tx, evs []OutboxEvent) error {
	for _, ev := range evs {
		if len(ev.Endpoints) == 0 {
			continue
		}
		created := ev.CreatedAt.UnixMilli()
		var seq int64
		err := s.txQueryRow(ctx, tx, `INSERT INTO events (id, repo, action, payload, created_at) VALUES (?, ?, ?, ?, ?) RETURNING seq`,
			ev.ID, ev.Repo, ev.Action, ev.Payload, created).Scan(&seq)
		if err != nil {
			return fmt.Errorf("record event %s: %w", ev.ID, err)
		}
		for _, ep := range ev.Endpoints {
			_, err := s.exec(ctx, tx, `INSERT INTO event_deliveries (seq, endpoint, repo, state, attempts, started_at, next_at, lease_until, lease_owner, last_status, last_error, done_at)
				VALUES (?, ?, ?, 0, 0, ?, ?, 0, '', 0, '', 0)`, seq, ep, ev.Repo, created, created)
			if err != nil {
				return fmt.Errorf("record delivery of event %s to %s: %w", ev.ID, ep, err)
			}
		}
	}
	return nil
}

// AppendEvents implements EventStore.
func (s *SQL) AppendEvents(ctx context.Context, evs []OutboxEvent) error {
	if len(evs) == 0 {
		return nil
	}
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, evs) })
}

// ClaimDeliveries implements EventStore.
func (s *SQL) ClaimDeliveries(ctx context.Context, endpoint, owner string, now, leaseUntil time.Time, heads, run int) ([]Delivery, error) {
	// An idle lane polls: look on the read pool first, so that polling
	// takes no write lock (SQLite's single writer) and commits nothing.
	var one int
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM event_deliveries WHERE endpoint = ? AND state = 0 AND next_at <= ? AND lease_until <= ? LIMIT 1`),
		endpoint, now.UnixMilli(), now.UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim deliveries for %s: %w", endpoint, err)
	}
	var out []Delivery
	ctx = uninterrupted(ctx)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		hs, err := s.claimHeads(ctx, tx, endpoint, now, heads)
		if err != nil {
			return err
		}
		for _, h := range hs {
			// The rows behind a head this transaction holds are safe to
			// take with it: any other claimer sees the head pending (or
			// locked, or leased) and so takes none of them.
			ds, err := s.claimRun(ctx, tx, endpoint, h, now, run)
			if err != nil {
				return err
			}
			for _, d := range ds {
				if _, err := s.exec(ctx, tx, `UPDATE event_deliveries SET lease_owner = ?, lease_until = ? WHERE endpoint = ? AND seq = ?`,
					owner, leaseUntil.UnixMilli(), endpoint, d.Seq); err != nil {
					return fmt.Errorf("lease delivery %d to %s: %w", d.Seq, endpoint, err)
				}
			}
			out = append(out, ds...)
		}
		return nil
	})
	return out, err
}

// claimHeads locks the first pending delivery of up to n repositories
// that is due and not leased. On PostgreSQL a head another node holds is
// skipped (locked) or not due (leased); either way the rows behind it in
// its repository stay out too, since the head is still pending.
func (s *SQL) claimHeads(ctx context.Context, tx *sql.Tx, endpoint string, now time.Time, n int) ([]Delivery, error) {
	rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT d.seq, d.repo FROM event_deliveries d
		WHERE d.endpoint = ? AND d.state = 0 AND d.next_at <= ? AND d.lease_until <= ?
		AND NOT EXISTS (SELECT 1 FROM event_deliveries p
			WHERE p.endpoint = d.endpoint AND p.repo = d.repo AND p.state = 0 AND p.seq < d.seq)
		ORDER BY d.seq LIMIT ?`+s.d.forUpdateSkipLocked("d")), endpoint, now.UnixMilli(), now.UnixMilli(), n)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries for %s: %w", endpoint, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d := Delivery{Endpoint: endpoint}
		if err := rows.Scan(&d.Seq, &d.Repo); err != nil {
			return nil, fmt.Errorf("claim deliveries for %s: %w", endpoint, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// claimRun reads head and up to run-1 pending deliveries that follow it in
// its repository, in order, stopping before the first that is not due.
func (s *SQL) claimRun(ctx context.Context, tx *sql.Tx, endpoint string, head Delivery, now time.Time, run int) ([]Delivery, error) {
	rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT d.seq, d.attempts, d.started_at, d.next_at, e.id, e.payload, e.created_at
		FROM event_deliveries d JOIN events e ON e.seq = d.seq
		WHERE d.endpoint = ? AND d.repo = ? AND d.state = 0 AND d.seq >= ?
		ORDER BY d.seq LIMIT ?`), endpoint, head.Repo, head.Seq, max(run, 1))
	if err != nil {
		return nil, fmt.Errorf("claim deliveries for %s: %w", endpoint, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d := Delivery{Endpoint: endpoint, Repo: head.Repo}
		var started, next, created int64
		if err := rows.Scan(&d.Seq, &d.Attempts, &started, &next, &d.EventID, &d.Payload, &created); err != nil {
			return nil, fmt.Errorf("claim deliveries for %s: %w", endpoint, err)
		}
		if next > now.UnixMilli() {
			break // waiting for its retry: the rest wait behind it
		}
		d.StartedAt, d.CreatedAt = time.UnixMilli(started), time.UnixMilli(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery implements EventStore.
func (s *SQL) FinishDelivery(ctx context.Context, d Delivery, owner string, r AttemptResult) (bool, error) {
	held, err := s.FinishDeliveries(ctx, owner, []Delivery{d}, []*AttemptResult{&r})
	if err != nil {
		return false, err
	}
	return held[0], nil
}

// FinishDeliveries implements EventStore.
func (s *SQL) FinishDeliveries(ctx context.Context, owner string, ds []Delivery, rs []*AttemptResult) ([]bool, error) {
	held := make([]bool, len(ds))
	ctx = uninterrupted(ctx)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, d := range ds {
			var err error
			if held[i], err = s.finishTx(ctx, tx, owner, d, rs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return held, err
}

// finishTx records one attempt, or with r nil gives the lease back.
func (s *SQL) finishTx(ctx context.Context, tx *sql.Tx, owner string, d Delivery, r *AttemptResult) (bool, error) {
	if r == nil {
		res, err := s.exec(ctx, tx, `UPDATE event_deliveries SET lease_until = 0, lease_owner = '' WHERE endpoint = ? AND seq = ? AND lease_owner = ? AND state = 0`,
			d.Endpoint, d.Seq, owner)
		if err != nil {
			return false, fmt.Errorf("release delivery of event %s to %s: %w", d.EventID, d.Endpoint, err)
		}
		n, _ := res.RowsAffected()
		return n > 0, nil
	}
	_, err := s.exec(ctx, tx, `INSERT INTO event_attempts (seq, endpoint, at, status, error, duration_ms, node) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.Seq, d.Endpoint, r.At.UnixMilli(), r.Status, r.Err, r.Duration.Milliseconds(), r.Node)
	if err != nil {
		return false, fmt.Errorf("record attempt of event %s to %s: %w", d.EventID, d.Endpoint, err)
	}
	var done int64
	if r.State != DeliveryPending {
		done = r.At.UnixMilli()
	}
	res, err := s.exec(ctx, tx, `UPDATE event_deliveries SET state = ?, attempts = attempts + 1, next_at = ?, lease_until = 0, lease_owner = '',
		last_status = ?, last_error = ?, done_at = ? WHERE endpoint = ? AND seq = ? AND lease_owner = ? AND state = 0`,
		int(r.State), r.NextAt.UnixMilli(), r.Status, r.Err, done, d.Endpoint, d.Seq, owner)
	if err != nil {
		return false, fmt.Errorf("record delivery of event %s to %s: %w", d.EventID, d.Endpoint, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// EventBacklog implements EventStore.
func (s *SQL) EventBacklog(ctx context.Context, endpoint string) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*), MIN(e.created_at) FROM event_deliveries d JOIN events e ON e.seq = d.seq
		WHERE d.endpoint = ? AND d.state = 0`), endpoint).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("backlog of %s: %w", endpoint, err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, time.UnixMilli(oldest.Int64), nil
}

// ListEvents implements EventStore.
func (s *SQL) ListEvents(ctx context.Context, f EventFilter) ([]EventRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := `SELECT e.seq, e.id, e.repo, e.action, e.payload, e.created_at FROM events e WHERE 1 = 1`
	var args []any
	if f.Before > 0 {
		q += ` AND e.seq < ?`
		args = append(args, f.Before)
	}
	if f.Repo != "" {
		q += ` AND e.repo = ?`
		args = append(args, f.Repo)
	}
	if f.State != nil {
		q += ` AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.seq = e.seq AND d.state = ?)`
		args = append(args, int(*f.State))
	}
	q += ` ORDER BY e.seq DESC LIMIT ?`
	args = append(args, f.Limit)
	evs, err := s.scanEvents(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		if evs[i].Deliveries, err = s.deliveries(ctx, evs[i].Seq, false); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// GetEvent implements EventStore.
func (s *SQL) GetEvent(ctx context.Context, id string) (*EventRecord, error) {
	evs, err := s.scanEvents(ctx, `SELECT e.seq, e.id, e.repo, e.action, e.payload, e.created_at FROM events e WHERE e.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	ev := &evs[0]
	if ev.Deliveries, err = s.deliveries(ctx, ev.Seq, true); err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *SQL) scanEvents(ctx context.Context, q string, args ...any) ([]EventRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []EventRecord
	for rows.Next() {
		var ev EventRecord
		var created int64
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Repo, &ev.Action, &ev.Payload, &created); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		ev.CreatedAt = time.UnixMilli(created)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// deliveries reads an event's delivery rows, with their attempts when
// tries is set.
func (s *SQL) deliveries(ctx context.Context, seq int64, tries bool) ([]DeliveryRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT endpoint, state, attempts, next_at, last_status, last_error, done_at
		FROM event_deliveries WHERE seq = ? ORDER BY endpoint`), seq)
	if err != nil {
		return nil, fmt.Errorf("deliveries of event %d: %w", seq, err)
	}
	var out []DeliveryRecord
	for rows.Next() {
		var d DeliveryRecord
		var next, done int64
		if err := rows.Scan(&d.Endpoint, &d.State, &d.Attempts, &next, &d.LastStatus, &d.LastError, &done); err != nil {
			rows.Close()
			return nil, fmt.Errorf("deliveries of event %d: %w", seq, err)
		}
		d.NextAt = time.UnixMilli(next)
		if done > 0 {
			d.DoneAt = time.UnixMilli(done)
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of event %d: %w", seq, err)
	}
	if !tries {
		return out, nil
	}
	for i := range out {
		if out[i].Tries, err = s.attempts(ctx, seq, out[i].Endpoint); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *SQL) attempts(ctx context.Context, seq int64, endpoint string) ([]AttemptRecord, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT at, status, error, duration_ms, node FROM event_attempts
		WHERE seq = ? AND endpoint = ? ORDER BY id`), seq, endpoint)
	if err != nil {
		return nil, fmt.Errorf("attempts of event %d: %w", seq, err)
	}
	defer rows.Close()
	var out []AttemptRecord
	for rows.Next() {
		var a AttemptRecord
		var at, ms int64
		if err := rows.Scan(&at, &a.Status, &a.Err, &ms, &a.Node); err != nil {
			return nil, fmt.Errorf("attempts of event %d: %w", seq, err)
		}
		a.At, a.Duration = time.UnixMilli(at), time.Duration(ms)*time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// Redeliver implements EventStore.
func (s *SQL) Redeliver(ctx context.Context, id, endpoint string, now time.Time) (int, error) {
	var n int64
	ctx = uninterrupted(ctx)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		err := s.txQueryRow(ctx, tx, `SELECT seq FROM events WHERE id = ?`, id).Scan(&seq)
		if err := notFound(err, "event %s", id); err != nil {
			return err
		}
		q := `UPDATE event_deliveries SET state = 0, attempts = 0, started_at = ?, next_at = ?, lease_until = 0, lease_owner = '', done_at = 0 WHERE seq = ?`
		args := []any{now.UnixMilli(), now.UnixMilli(), seq}
		if endpoint != "" {
			q += ` AND endpoint = ?`
			args = append(args, endpoint)
		}
		res, err := s.exec(ctx, tx, q, args...)
		if err != nil {
			return fmt.Errorf("redeliver event %s: %w", id, err)
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return fmt.Errorf("event %s has no delivery to %q: %w", id, endpoint, ErrNotFound)
		}
		return nil
	})
	return int(n), err
}

// PruneEvents implements EventStore.
func (s *SQL) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	ctx = uninterrupted(ctx)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cut := before.UnixMilli()
		done := `SELECT seq FROM events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.seq = events.seq AND d.state = 0)`
		// Children first: SQLite enforces the foreign keys but PostgreSQL
		// and SQLite alike are quicker without cascading row by row.
		for _, q := range []string{
			`DELETE FROM event_attempts WHERE seq IN (` + done + `)`,
			`DELETE FROM event_deliveries WHERE seq IN (` + done + `)`,
		} {
			if _, err := s.exec(ctx, tx, q, cut); err != nil {
				return fmt.Errorf("prune events: %w", err)
			}
		}
		res, err := s.exec(ctx, tx, `DELETE FROM events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.seq = events.seq)`, cut)
		if err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// recordMount reports a cross-repository mount (LinkBlob), with the blob's
// size, which the mount event carries.
func (s *SQL) recordMount(ctx context.Context, tx *sql.Tx, repo string, d digest.Digest) error {
	if s.events == nil {
		return nil
	}
	var size int64
	if err := s.txQueryRow(ctx, tx, `SELECT size FROM blobs WHERE digest = ?`, d.String()).Scan(&size); err != nil {
		return fmt.Errorf("size of %s: %w", d, err)
	}
	return s.recordChanges(ctx, tx, Change{Action: ActionMount, Kind: KindBlob, Repo: repo, Digest: d, Size: size})
}

// manifestPushes are the changes of a manifest put: one push per tag, as
// distribution sends, or one without a tag for a push by digest.
func manifestPushes(repo string, m *Manifest, tags []string) []Change {
	c := Change{Action: ActionPush, Kind: KindManifest, Repo: repo, Digest: m.Digest,
		MediaType: m.MediaType, Size: int64(len(m.Payload)), Payload: m.Payload}
	if len(tags) == 0 {
		return []Change{c}
	}
	out := make([]Change, len(tags))
	for i, t := range tags {
		out[i] = c
		out[i].Tag = t
	}
	return out
}

// manifestDeletions are the changes a manifest deletion starts with: the
// tags that pointed at it are deleted (distribution reports each), then
// the manifest itself. Read before the rows go; nothing without a hook.
func (s *SQL) manifestDeletions(ctx context.Context, tx *sql.Tx, repoID int64, repo string, d digest.Digest) ([]Change, error) {
	if s.events == nil {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT name FROM tags WHERE repo_id = ? AND manifest_digest = ? ORDER BY name`), repoID, d.String())
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", d, err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			return nil, fmt.Errorf("tags of %s: %w", d, err)
		}
		out = append(out, Change{Action: ActionDelete, Kind: KindTag, Repo: repo, Tag: tag})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tags of %s: %w", d, err)
	}
	return append(out, Change{Action: ActionDelete, Kind: KindManifest, Repo: repo, Digest: d}), nil
}

// ReleaseLeases implements EventStore.
func (s *SQL) ReleaseLeases(ctx context.Context, owner string) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE event_deliveries SET lease_until = 0, lease_owner = '' WHERE state = 0 AND lease_owner <> ''`
		var args []any
		if owner != "" {
			q += ` AND lease_owner = ?`
			args = append(args, owner)
		}
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
		return nil
	})
}

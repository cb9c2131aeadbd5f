package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 128

// batcher is SQLite's group commit. SQLite has one writer at a time and
// each commit waits for an fsync, so concurrent pushes would queue behind
// each other's fsyncs. The batcher takes every write transaction waiting
// at the moment, runs each inside a savepoint of one SQLite transaction
// (a failing one rolls back alone), and commits them together: one fsync
// for the lot. Each caller gets its answer only after that commit, so an
// acknowledged write is as durable as before.
type batcher struct {
	db   *sql.DB
	reqs chan *batchReq
	stop chan struct{}
	wg   sync.WaitGroup

	beforeWrite func() // see SQL.SetBeforeWrite

	stmts *writeStmts // prepared between transactions; may be nil
}

type batchReq struct {
	ctx context.Context
	fn  func(*sql.Tx) error
	err chan error
}

func newBatcher(db *sql.DB, stmts *writeStmts) *batcher {
	b := &batcher{db: db, reqs: make(chan *batchReq), stop: make(chan struct{}), stmts: stmts}
	b.wg.Add(1)
	go b.run()
	return b
}

// do runs fn in the next batch and waits for its commit.
func (b *batcher) do(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &batchReq{ctx: ctx, fn: fn, err: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return errors.New("metadata: store closed")
	}
	// Wait for the outcome even if ctx ends: the caller must not report a
	// failure for a write that then commits.
	return <-r.err
}

func (b *batcher) close() {
	close(b.stop)
	b.wg.Wait()
}

func (b *batcher) run() {
	defer b.wg.Done()
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch := []*batchReq{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		b.exec(batch)
		if b.stmts != nil && b.stmts.pending() {
			// The writer connection is free between transactions.
			b.stmts.prepareWanted(context.Background())
		}
	}
}

// exec runs one batch and answers every request in it.
func (b *batcher) exec(batch []*batchReq) {
	results := make([]error, len(batch))
	defer func() {
		for i, r := range batch {
			r.err <- results[i]
		}
	}()
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	if b.beforeWrite != nil {
		b.beforeWrite()
	}
	// The batch's transaction outlives any one request's context: a
	// cancelled request must not roll back the others.
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("metadata: begin: %w", err))
		return
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if err := runSavepoint(tx, b.stmts, r.fn); err != nil {
			var broken *brokenTxError
			if errors.As(err, &broken) {
				tx.Rollback()
				fail(broken.err)
				return
			}
			results[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("metadata: commit: %w", err))
	}
}

// brokenTxError means the shared transaction itself failed (SQLite rolls
// a transaction back by itself on some I/O errors): the whole batch fails.
type brokenTxError struct{ err error }

func (e *brokenTxError) Error() string { return e.err.Error() }

// runSavepoint runs fn so that its failure undoes only its own changes.
func runSavepoint(tx *sql.Tx, stmts *writeStmts, fn func(*sql.Tx) error) error {
	ctx := context.Background()
	if _, err := stmts.txExec(ctx, tx, "SAVEPOINT w"); err != nil {
		return &brokenTxError{fmt.Errorf("metadata: savepoint: %w", err)}
	}
	if err := fn(tx); err != nil {
		if _, rerr := stmts.txExec(ctx, tx, "ROLLBACK TO w"); rerr != nil {
			return &brokenTxError{fmt.Errorf("metadata: rollback to savepoint: %w (after %v)", rerr, err)}
		}
		if _, rerr := stmts.txExec(ctx, tx, "RELEASE w"); rerr != nil {
			return &brokenTxError{fmt.Errorf("metadata: release savepoint: %w", rerr)}
		}
		return err
	}
	if _, err := stmts.txExec(ctx, tx, "RELEASE w"); err != nil {
		return &brokenTxError{fmt.Errorf("metadata: release savepoint: %w", err)}
	}
	return nil
}

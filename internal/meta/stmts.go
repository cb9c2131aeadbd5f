package meta

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by query text. Preparing is a large
// part of a small query's cost (SQLite parses and plans it anew each time),
// and the hot queries are few and fixed.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for q (already rebound).
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// maxWriteStmts bounds the write statements kept prepared; queries built
// with a variable number of placeholders would otherwise grow it forever.
const maxWriteStmts = 256

// writeStmts keeps SQLite's write statements prepared on the one writer
// connection. Profiled, parsing them was 14% of a mount's server CPU, in
// the group-commit goroutine that bounds every write. A statement cannot
// be prepared inside a transaction (preparing on the database needs the
// connection the transaction holds), so a query first seen inside one is
// run unprepared and noted; the batcher prepares what was noted between
// transactions.
//
// The prepared statements are a stmtCache's (its close closes them); mu
// also guards wanted.
type writeStmts struct {
	stmtCache
	wanted map[string]struct{}
}

func newWriteStmts(db *sql.DB) *writeStmts {
	return &writeStmts{stmtCache: stmtCache{db: db, m: map[string]*sql.Stmt{}}, wanted: map[string]struct{}{}}
}

// lookup returns q's prepared statement, or nil after noting q.
func (w *writeStmts) lookup(q string) *sql.Stmt {
	if w == nil {
		return nil
	}
	w.mu.RLock()
	st := w.m[q]
	w.mu.RUnlock()
	if st != nil {
		return st
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.m[q]; st != nil {
		return st
	}
	if len(w.m)+len(w.wanted) < maxWriteStmts {
		w.wanted[q] = struct{}{}
	}
	return nil
}

// prepareWanted prepares the noted statements, called by the batcher
// between its transactions. A statement that fails to prepare is dropped:
// it runs unprepared, as before.
//
// The lock is not held while preparing: a transaction outside the batcher
// (garbage collection's) may hold the connection and look statements up.
func (w *writeStmts) prepareWanted(ctx context.Context) {
	w.mu.Lock()
	qs := make([]string, 0, len(w.wanted))
	for q := range w.wanted {
		qs = append(qs, q)
	}
	clear(w.wanted)
	w.mu.Unlock()
	for _, q := range qs {
		st, err := w.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if w.m[q] == nil {
			w.m[q] = st
			st = nil
		}
		w.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

// pending reports whether statements wait to be prepared.
func (w *writeStmts) pending() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.wanted) > 0
}

// txExec runs q in tx, prepared when w has it.
func (w *writeStmts) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := w.lookup(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// txQueryRow runs a one-row query q in tx, prepared when w has it.
func (w *writeStmts) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := w.lookup(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

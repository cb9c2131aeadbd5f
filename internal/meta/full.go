package meta

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrFull marks a write the database refused for lack of space: SQLite's
// SQLITE_FULL (its disk is full), PostgreSQL's disk_full (53100) or
// out_of_memory (53200). Nothing of the transaction was kept.
var ErrFull = errors.New("meta: the metadata database is out of space")

// Codes that mean the database could not store what it was given.
const (
	sqliteFull     = 13 // SQLITE_FULL; extended codes keep it in the low byte
	pgDiskFull     = "53100"
	pgOutOfMemory  = "53200"
	sqliteCodeMask = 0xff
)

// FullError is a write the database refused for lack of space. It is
// ErrFull and its cause; Reason names the database's code, for clients.
type FullError struct {
	Reason string
	Err    error
}

func (e *FullError) Error() string {
	return "metadata database out of space (" + e.Reason + "): " + e.Err.Error()
}

// Unwrap makes a FullError both ErrFull and its cause.
func (e *FullError) Unwrap() []error { return []error{ErrFull, e.Err} }

// full marks err as a FullError when the database ran out of space, so the
// registry can answer 507 instead of an internal error.
func full(err error) error {
	if err == nil || errors.Is(err, ErrFull) {
		return err
	}
	if reason := fullReason(err); reason != "" {
		return &FullError{Reason: reason, Err: err}
	}
	return err
}

// fullReason names the out-of-space condition err reports, or "".
func fullReason(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgDiskFull:
			return "PostgreSQL: disk full, SQLSTATE " + pgDiskFull
		case pgOutOfMemory:
			return "PostgreSQL: out of memory, SQLSTATE " + pgOutOfMemory
		}
		return ""
	}
	var se interface{ Code() int }
	if errors.As(err, &se) && se.Code()&sqliteCodeMask == sqliteFull {
		return "SQLite: database or disk is full"
	}
	return ""
}

// SetBeforeWrite installs fn, run before each write transaction (each group
// commit on SQLite) and after one failed for lack of space. The server uses
// it to give back the disk's reserve when free space is nearly gone, so
// that deletes and garbage collection can still write.
func (s *SQL) SetBeforeWrite(fn func()) {
	s.beforeWrite = fn
	if s.batch != nil {
		s.batch.beforeWrite = fn
	}
}

// prepareWrite runs the beforeWrite hook, if any.
func (s *SQL) prepareWrite() {
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
}

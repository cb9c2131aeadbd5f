package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/opencontainers/go-digest"
)

// migrationLockKey is the advisory lock (two 32-bit keys, a space apart
// from the one-key locks of lockDigest) held while migrations run, so that
// nodes starting together apply each migration once, one after another.
const migrationLockKey1, migrationLockKey2 = 0x77686172, 1 // "whar", 1

// OpenPostgres connects to the PostgreSQL database dsn names (a URL,
// postgres://user:password@host:port/dbname?sslmode=..., or keyword=value
// pairs) with a pool of at most maxConns connections (16 when maxConns <= 0)
// and applies migrations. Reads and writes share the pool: PostgreSQL has
// no single-writer limit to work around.
func OpenPostgres(ctx context.Context, dsn string, maxConns int) (*SQL, error) {
	if maxConns <= 0 {
		maxConns = 16
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata: open PostgreSQL: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("metadata: connect to PostgreSQL: %w", err)
	}
	s := &SQL{w: db, r: db, d: postgresDialect, now: time.Now, rstmts: newStmtCache(db), touchAfter: defaultTouchAfter}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return s, nil
}

// lockMigrations serialises migrations across processes: the lock is held
// until the migration transaction ends, and the schema version is read
// after it is taken.
func (s *SQL) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if !s.d.advisory {
		return nil // SQLite: the write transaction is already exclusive
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, migrationLockKey1, migrationLockKey2); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

// lockDigest takes, until tx ends, a lock on digest d shared by every
// transaction that writes a blob's row or bytes (CommitBlob, LinkBlob), that
// (re)stores a manifest (PutManifest) and that reviews a garbage candidate
// (gcTx.Review). Two such transactions on the same digest run one after
// the other, as every write transaction does on SQLite, where this is a
// no-op. The lock is taken before anything is read, so under READ COMMITTED
// the holder sees everything the previous holder committed.
func (s *SQL) lockDigest(ctx context.Context, tx *sql.Tx, d digest.Digest) error {
	if !s.d.advisory {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, d.String()); err != nil {
		return fmt.Errorf("lock %s: %w", d, err)
	}
	return nil
}

// PostgreSQL error codes the store reacts to.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
)

// retryable reports whether err aborted a transaction only because of how
// it interleaved with others (a deadlock PostgreSQL broke by picking this
// transaction), so that running it again may well succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case pgSerializationFailure, pgDeadlockDetected, pgLockNotAvailable:
		return true
	}
	return false
}

// storable reports whether every string can be stored as text by the
// database: PostgreSQL's text holds only valid UTF-8 without NUL bytes and
// fails a query with any other argument, where SQLite compares the bytes.
// A lookup by a string that cannot be stored finds nothing; the callers
// answer so instead of failing.
func (s *SQL) storable(strs ...string) bool {
	if !s.d.advisory { // SQLite
		return true
	}
	for _, str := range strs {
		if !utf8.ValidString(str) || strings.IndexByte(str, 0) >= 0 {
			return false
		}
	}
	return true
}

// after returns the comparison of a listing query with "names after last"
// for PostgreSQL, where last (from a client) may not be storable text:
// "> last" when it is, else ">= S" with S the smallest storable string
// greater than last, found bytewise (UTF-8 sorts like code points, and the
// "C" collation compares bytes). ok is false when no storable string is
// greater than last, so the page is empty.
func (s *SQL) after(last string) (op, arg string, ok bool) {
	if s.storable(last) {
		return ">", last, true
	}
	i := 0
	for i < len(last) {
		r, size := utf8.DecodeRuneInString(last[i:])
		if r == 0 || (r == utf8.RuneError && size <= 1) {
			break
		}
		i += size
	}
	prefix, rest := last[:i], last[i:]
	for {
		if c, found := smallestRuneAbove(rest); found {
			return ">=", prefix + string(c), true
		}
		// Every string starting with prefix is below last: the answer
		// starts with a shorter prefix and a greater next character.
		if prefix == "" {
			return "", "", false
		}
		_, size := utf8.DecodeLastRuneInString(prefix)
		prefix, rest = prefix[:len(prefix)-size], prefix[len(prefix)-size:]+"\xff"
	}
}

// smallestRuneAbove returns the smallest storable character whose UTF-8
// encoding is bytewise greater than s (a prefix of s is not greater).
func smallestRuneAbove(s string) (rune, bool) {
	// Characters in code point order are in byte order: binary search over
	// the scalar values 1..0x10FFFF, surrogates left out.
	const surrogates = 0xE000 - 0xD800
	toRune := func(i int) rune {
		if i >= 0xD800 {
			i += surrogates
		}
		return rune(i)
	}
	n := 0x110000 - surrogates
	lo, hi := 1, n // find the first i in [1, n) with toRune(i) > s
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if string(toRune(mid)) > s {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == n {
		return 0, false
	}
	return toRune(lo), true
}

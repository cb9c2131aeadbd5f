package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQL is the Store over database/sql. Writes go through one pool and reads
// through another: for SQLite the write pool has a single connection, so
// writers queue in Go instead of failing with SQLITE_BUSY, while readers run
// concurrently under WAL. For PostgreSQL both are the same pool.
type SQL struct {
	w, r  *sql.DB
	d     dialect
	now   func() time.Time
	batch *batcher // SQLite's group commit; nil on PostgreSQL

	rstmts *stmtCache  // prepared read statements
	wstmts *writeStmts // prepared write statements; SQLite only
	cache  *readCache  // SQLite only; nil when the WAL index cannot be read

	beforeWrite func() // see SetBeforeWrite

	events EventHook // see SetEventHook; nil: no events

	// touchAfter is how old a link candidate's queue time may be before a
	// HEAD or GET refreshes it; negative: never (see SetGracePeriod).
	touchAfter time.Duration
}

// OpenSQLite opens (creating if needed) the SQLite database at path in WAL
// mode and applies migrations.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("metadata: create directory: %w", err)
	}
	// synchronous(FULL): a manifest acknowledged to a client survives power
	// loss, not only a process crash.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(30000)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// Readers keep a small page cache of their own (256 KiB, not SQLite's
	// 2 MiB): eight of them filled to 2 MiB were most of a scale run's peak
	// RSS (75-87 MiB), and a page they miss is in the OS page cache, a
	// pread away; measured, manifest GETs were no slower.
	r, err := sql.Open("sqlite", dsn+"&mode=ro&_pragma=cache_size(-256)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("metadata: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	wstmts := newWriteStmts(w)
	s := &SQL{w: w, r: r, d: sqliteDialect, now: time.Now, batch: newBatcher(w, wstmts), rstmts: newStmtCache(r), wstmts: wstmts, touchAfter: defaultTouchAfter}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Without the WAL index mapped (an unusual file system), reads go to
	// the database every time, as on PostgreSQL; a watcher that opened the
	// file but could not map it is kept, disabled, to be closed last.
	if wal, _ := openWALWatcher(path); wal != nil {
		s.cache = newReadCache(wal, readCacheBytes)
	}
	return s, nil
}

// Close implements Store.
func (s *SQL) Close() error {
	if s.batch != nil {
		s.batch.close()
	}
	if s.wstmts != nil {
		s.wstmts.close()
	}
	if s.cache != nil {
		defer s.cache.close() // after the connections, which keep the index
	}
	s.rstmts.close()
	if s.r == s.w {
		return s.w.Close()
	}
	errR := s.r.Close()
	errW := s.w.Close()
	return errors.Join(errW, errR)
}

func (s *SQL) migrate(ctx context.Context) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Nodes starting together: the first applies what is missing, the
		// others wait here and then find nothing left to apply.
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		for v := applied + 1; v <= len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, s.d.schema(migrations[v-1])); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, s.millis()); err != nil {
				return fmt.Errorf("record migration %d: %w", v, err)
			}
		}
		return nil
	})
}

func (s *SQL) millis() int64 { return s.now().UnixMilli() }

// maxTxAttempts bounds how often tx runs a transaction that PostgreSQL
// aborted to break a deadlock.
const maxTxAttempts = 4

// tx runs fn in a write transaction, committing when it returns nil. On
// PostgreSQL a transaction chosen as a deadlock's victim is rolled back and
// run again (fn must have no effect outside the transaction before its last
// statement: CommitBlob's commitBytes runs after every statement, and a
// deadlock can only strike while a statement waits for a lock).
func (s *SQL) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	err := s.runTx(ctx, fn)
	if errors.Is(err, ErrFull) {
		s.prepareWrite() // make room for the next write, whoever took it
	}
	return err
}

func (s *SQL) runTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.batch != nil {
		return full(s.batch.do(ctx, fn))
	}
	s.prepareWrite()
	for attempt := 1; ; attempt++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("metadata: begin: %w", err)
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			if attempt < maxTxAttempts && retryable(err) && ctx.Err() == nil {
				time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
				continue
			}
			return full(err)
		}
		if err := tx.Commit(); err != nil {
			return full(fmt.Errorf("metadata: commit: %w", err))
		}
		return nil
	}
}

// uninterrupted keeps a write going when its client goes away: SQLite
// answers an interrupted statement by rolling back the whole transaction,
// which under group commit holds other clients' writes too; and a write
// that started should finish rather than leave its caller guessing.
func uninterrupted(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// exec runs a statement in a write transaction. Writes are not prepared
// ahead: SQLite's single write connection is held by the transaction, so
// preparing on the pool would wait for it forever; and a write's cost is
// its commit.
func (s *SQL) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	return s.wstmts.txExec(ctx, tx, s.d.rebind(q), args...)
}

// txQueryRow runs a one-row query inside a write transaction.
func (s *SQL) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	return s.wstmts.txQueryRow(ctx, tx, s.d.rebind(q), args...)
}

// queryRow runs a one-row query on the read pool with a cached statement.
func (s *SQL) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = s.d.rebind(q)
	if st, err := s.rstmts.get(ctx, q); err == nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, q, args...)
}

// ensureRepo returns repo's id, creating the repository if needed. Safe
// under concurrency on PostgreSQL too: a second insert of the same name
// waits for the first transaction and then does nothing (or inserts, if
// the first rolled back), and the SELECT, a new statement, sees the row.
func (s *SQL) ensureRepo(ctx context.Context, tx *sql.Tx, repo string) (int64, error) {
	if _, err := s.exec(ctx, tx, `INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, repo, s.millis()); err != nil {
		return 0, fmt.Errorf("create repository %s: %w", repo, err)
	}
	var id int64
	if err := s.txQueryRow(ctx, tx, `SELECT id FROM repositories WHERE name = ?`, repo).Scan(&id); err != nil {
		return 0, fmt.Errorf("look up repository %s: %w", repo, err)
	}
	return id, nil
}

// CommitBlob implements Store. commitBytes runs inside the transaction, after
// the rows are written and before they commit: the garbage collector removes
// bytes inside its own transaction, so the two never interleave and a blob
// row can never outlive its bytes.
func (s *SQL) CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string, commitBytes func() error) error {
	return s.commitBlob(ctx, repo, d, size, nil, uploadID, commitBytes)
}

// CommitInlineBlob implements Store.
func (s *SQL) CommitInlineBlob(ctx context.Context, repo string, d digest.Digest, content []byte, uploadID string) error {
	if content == nil {
		content = []byte{}
	}
	return s.commitBlob(ctx, repo, d, int64(len(content)), content, uploadID, nil)
}

// commitBlob records a blob whose bytes are content (inline) or, when
// content is nil, in the blob store, put there by commitBytes.
func (s *SQL) commitBlob(ctx context.Context, repo string, d digest.Digest, size int64, content []byte, uploadID string, commitBytes func() error) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		// PostgreSQL: the garbage collector's reviews of d hold the same
		// lock (the blob review, which checks for links and deletes the
		// row; the bytes review, which checks the row is gone and deletes
		// the bytes). Without it, a bytes review that found no row could
		// delete the bytes this commit has just put in place, or a blob
		// review could delete the row this commit is linking.
		if err := s.lockDigest(ctx, tx, d); err != nil {
			return err
		}
		now := s.millis()
		if _, err := s.exec(ctx, tx, `INSERT INTO blobs (digest, size, created_at, content) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING`, d.String(), size, now, content); err != nil {
			return fmt.Errorf("record blob %s: %w", d, err)
		}
		id, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if err := s.link(ctx, tx, id, d); err != nil {
			return err
		}
		if uploadID != "" {
			if _, err := s.exec(ctx, tx, `DELETE FROM uploads WHERE id = ?`, uploadID); err != nil {
				return fmt.Errorf("end upload %s: %w", uploadID, err)
			}
		}
		if err := s.recordChanges(ctx, tx, Change{Action: ActionPush, Kind: KindBlob, Repo: repo, Digest: d, Size: size}); err != nil {
			return err
		}
		if commitBytes != nil {
			return commitBytes()
		}
		return nil
	})
}

// link lets a repository serve a blob. A new link is a fresh garbage
// candidate: if no manifest comes to reference it within the grace period,
// it goes.
func (s *SQL) link(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) error {
	_, err := s.exec(ctx, tx, `INSERT INTO repository_blobs (repo_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT (repo_id, digest) DO NOTHING`, repoID, d.String(), s.millis())
	if err != nil {
		return fmt.Errorf("link blob %s: %w", d, err)
	}
	if err := s.unmarkRemoved(ctx, tx, repoID, d); err != nil {
		return err
	}
	// Queued fresh even when the link already existed: a client pushing or
	// mounting the blob again means to reference it, so a removal already
	// pending for the link (its last manifest deleted) must wait out the
	// grace period again rather than take the link right after the 201.
	return s.enqueue(ctx, tx, CandidateLink, repoID, d, true)
}

// BlobSize implements Store.
func (s *SQL) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	var size int64
	err := s.queryRow(ctx, `SELECT size FROM blobs WHERE digest = ?`, d.String()).Scan(&size)
	return size, notFound(err, "blob %s", d)
}

// RepoBlobSize implements Store.
func (s *SQL) RepoBlobSize(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	if !s.storable(repo, d.String()) {
		return 0, fmt.Errorf("blob %s in %s: %w", d, repo, ErrNotFound)
	}
	g, cacheable := s.cache.snapshot()
	if cacheable {
		if size, ok := s.cache.blobSize(g, repo, d); ok {
			return size, nil
		}
	}
	var size, touchRepo int64
	var stable bool
	err := s.queryRow(ctx, `SELECT b.size`+touchColumn+stableColumn+` FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repo_id
		JOIN blobs b ON b.digest = rb.digest`+touchJoin+`
		WHERE r.name = ? AND rb.digest = ?`, s.touchArgs(repo, d.String())...).Scan(&size, &touchRepo, &stable)
	if err := notFound(err, "blob %s in %s", d, repo); err != nil {
		return 0, err
	}
	if cacheable && stable {
		s.cache.putBlobSize(g, repo, d, size)
	}
	return size, s.keepReported(ctx, touchRepo, d)
}

// RepoBlob implements Store.
func (s *SQL) RepoBlob(ctx context.Context, repo string, d digest.Digest) (int64, []byte, error) {
	if !s.storable(repo, d.String()) {
		return 0, nil, fmt.Errorf("blob %s in %s: %w", d, repo, ErrNotFound)
	}
	var size, touchRepo int64
	var content inlineBytes
	err := s.queryRow(ctx, `SELECT b.size, b.content`+touchColumn+` FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repo_id
		JOIN blobs b ON b.digest = rb.digest`+touchJoin+`
		WHERE r.name = ? AND rb.digest = ?`, s.touchArgs(repo, d.String())...).Scan(&size, &content, &touchRepo)
	if err := notFound(err, "blob %s in %s", d, repo); err != nil {
		return 0, nil, err
	}
	if err := s.keepReported(ctx, touchRepo, d); err != nil {
		return 0, nil, err
	}
	return size, content, nil
}

// inlineBytes scans a content column: nil for NULL (the bytes are in the
// blob store), the bytes otherwise, empty but not nil for an empty blob.
type inlineBytes []byte

// Scan implements sql.Scanner.
func (b *inlineBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append([]byte{}, v...)
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("content column holds %T", src)
	}
	return nil
}

// LinkBlob implements Store.
func (s *SQL) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		// PostgreSQL: taken before the blob row is checked, so a garbage
		// review of d either finished (the row is gone: ErrNotFound) or
		// starts after this link commits and sees it.
		if err := s.lockDigest(ctx, tx, d); err != nil {
			return err
		}
		var one int
		err := s.txQueryRow(ctx, tx, `SELECT 1 FROM blobs WHERE digest = ?`, d.String()).Scan(&one)
		if err := notFound(err, "blob %s", d); err != nil {
			return err
		}
		id, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if err := s.link(ctx, tx, id, d); err != nil {
			return err
		}
		return s.recordMount(ctx, tx, repo, d)
	})
}

// UnlinkBlob implements Store.
func (s *SQL) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM repository_blobs WHERE digest = ? AND repo_id = (SELECT id FROM repositories WHERE name = ?)`, d.String(), repo)
		if err != nil {
			return fmt.Errorf("unlink blob %s from %s: %w", d, repo, err)
		}
		if err := mustAffect(res, "blob %s in %s", d, repo); err != nil {
			return err
		}
		if err := s.markRemovedByName(ctx, tx, repo, d); err != nil {
			return err
		}
		if err := s.recordChanges(ctx, tx, Change{Action: ActionDelete, Kind: KindBlob, Repo: repo, Digest: d}); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, CandidateBlob, 0, d, false)
	})
}

// markRemovedByName is markRemoved for a repository given by name.
func (s *SQL) markRemovedByName(ctx context.Context, tx *sql.Tx, repo string, d digest.Digest) error {
	var id int64
	if err := s.txQueryRow(ctx, tx, `SELECT id FROM repositories WHERE name = ?`, repo).Scan(&id); err != nil {
		return fmt.Errorf("look up repository %s: %w", repo, err)
	}
	return s.markRemoved(ctx, tx, id, d)
}

// PutManifest implements Store.
func (s *SQL) PutManifest(ctx context.Context, repo string, m *Manifest, tag string) error {
	var tags []string
	if tag != "" {
		tags = []string{tag}
	}
	return s.PutManifestTags(ctx, repo, m, tags)
}

// PutManifestTags implements Store.
func (s *SQL) PutManifestTags(ctx context.Context, repo string, m *Manifest, tags []string) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		// PostgreSQL: a garbage review of this manifest holds the same
		// lock. Without it, pushing bytes that are already stored (the
		// insert does nothing) could race a review that found the
		// manifest untagged and deletes it: the new tag would then point
		// at a manifest that is gone.
		if err := s.lockDigest(ctx, tx, m.Digest); err != nil {
			return err
		}
		id, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		absent, err := s.checkRefs(ctx, tx, id, m.Refs)
		if err != nil {
			return err
		}
		if err := s.insertManifest(ctx, tx, id, m, absent); err != nil {
			return err
		}
		if err := s.recordChanges(ctx, tx, manifestPushes(repo, m, tags)...); err != nil {
			return err
		}
		if len(tags) == 0 {
			// Pushed by digest: a fresh untagged candidate, kept for the
			// grace period so an index can come to reference it.
			return s.enqueue(ctx, tx, CandidateManifest, id, m.Digest, true)
		}
		// In one order whatever the request's: two pushes of overlapping
		// tags then lock the tag rows in the same order (PostgreSQL).
		for _, tag := range slices.Sorted(slices.Values(tags)) {
			if err := s.setTag(ctx, tx, id, repo, tag, m.Digest); err != nil {
				return err
			}
		}
		return nil
	})
}

// setTag points tag at d; a manifest the tag leaves becomes an untagged
// candidate.
func (s *SQL) setTag(ctx context.Context, tx *sql.Tx, repoID int64, repo, tag string, d digest.Digest) error {
	var old string
	err := s.txQueryRow(ctx, tx, `SELECT manifest_digest FROM tags WHERE repo_id = ? AND name = ?`, repoID, tag).Scan(&old)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	_, err = s.exec(ctx, tx, `INSERT INTO tags (repo_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repo_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at`,
		repoID, tag, d.String(), s.millis())
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	if old != "" && old != d.String() {
		return s.enqueue(ctx, tx, CandidateManifest, repoID, digest.Digest(old), false)
	}
	return nil
}

// checkRefs returns *MissingRefsError naming every reference repo lacks
// that is not optional, and otherwise the optional ones it lacks.
//
// PostgreSQL: each row found is locked FOR SHARE until the manifest and its
// references commit. The garbage collector locks a link or manifest row FOR
// UPDATE before it checks manifest_refs (gcTx.reviewLink, reviewManifest),
// so either this push commits first and the review sees the new
// reference, or the review deletes the row first and the lock here waits,
// finds the row gone and the push fails with MissingRefsError. A row is
// never deleted under a manifest that was just stored.
//
// An optional reference found absent is stored all the same (insertManifest):
// content arriving later is then referenced from the moment its row is
// committed, and the collector's review of it sees the reference.
func (s *SQL) checkRefs(ctx context.Context, tx *sql.Tx, repoID int64, refs []Ref) (map[digest.Digest]bool, error) {
	var missing []Ref
	absent := map[digest.Digest]bool{}
	for _, ref := range refs {
		q := `SELECT 1 FROM repository_blobs WHERE repo_id = ? AND digest = ?`
		if ref.Kind == RefManifest {
			q = `SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?`
		}
		q += s.d.forShare()
		var one int
		err := s.txQueryRow(ctx, tx, q, repoID, ref.Digest.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) && ref.Optional {
			lost, lerr := s.recentlyRemoved(ctx, tx, repoID, ref.Digest)
			if lerr != nil {
				return nil, lerr
			}
			if !lost {
				absent[ref.Digest] = true
				continue
			}
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			missing = append(missing, ref)
		case err != nil:
			return nil, fmt.Errorf("check reference %s: %w", ref.Digest, err)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingRefsError{Refs: missing}
	}
	return absent, nil
}

// recentlyRemoved reports whether repo lost d lately (removed_refs). Under
// PostgreSQL's READ COMMITTED this statement sees a collector's removal
// that committed while checkRefs waited on the row it removed.
func (s *SQL) recentlyRemoved(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) (bool, error) {
	var one int
	err := s.txQueryRow(ctx, tx, `SELECT 1 FROM removed_refs WHERE repo_id = ? AND digest = ?`, repoID, d.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check removal of %s: %w", d, err)
	}
	return true, nil
}

// markRemoved records that repo lost d: see removed_refs.
func (s *SQL) markRemoved(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) error {
	_, err := s.exec(ctx, tx, `INSERT INTO removed_refs (repo_id, digest, removed_at) VALUES (?, ?, ?)
		ON CONFLICT (repo_id, digest) DO UPDATE SET removed_at = excluded.removed_at`, repoID, d.String(), s.millis())
	if err != nil {
		return fmt.Errorf("record removal of %s: %w", d, err)
	}
	return nil
}

// unmarkRemoved forgets a removal: the content is back.
func (s *SQL) unmarkRemoved(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) error {
	if _, err := s.exec(ctx, tx, `DELETE FROM removed_refs WHERE repo_id = ? AND digest = ?`, repoID, d.String()); err != nil {
		return fmt.Errorf("forget removal of %s: %w", d, err)
	}
	return nil
}

// insertManifest stores m and its references; absent marks the optional
// references the repository did not hold.
func (s *SQL) insertManifest(ctx context.Context, tx *sql.Tx, repoID int64, m *Manifest, absent map[digest.Digest]bool) error {
	var subject any
	if m.Subject != "" {
		subject = m.Subject.String()
	}
	res, err := s.exec(ctx, tx, `INSERT INTO manifests (repo_id, digest, media_type, artifact_type, subject, annotations, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo_id, digest) DO NOTHING`,
		repoID, m.Digest.String(), m.MediaType, m.ArtifactType, subject, m.Annotations, m.Payload, s.millis())
	if err != nil {
		return fmt.Errorf("store manifest %s: %w", m.Digest, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // the same bytes are already stored, with their references
	}
	if err := s.unmarkRemoved(ctx, tx, repoID, m.Digest); err != nil {
		return err
	}
	for _, ref := range m.Refs {
		gone := 0
		if absent[ref.Digest] {
			gone = 1
		}
		_, err := s.exec(ctx, tx, `INSERT INTO manifest_refs (repo_id, manifest_digest, ref_digest, kind, absent) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (repo_id, manifest_digest, ref_digest) DO NOTHING`, repoID, m.Digest.String(), ref.Digest.String(), int(ref.Kind), gone)
		if err != nil {
			return fmt.Errorf("store reference %s of %s: %w", ref.Digest, m.Digest, err)
		}
	}
	return nil
}

// GetManifest implements Store.
func (s *SQL) GetManifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error) {
	if !s.storable(repo, d.String()) {
		return nil, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrNotFound)
	}
	m := &Manifest{Digest: d}
	var subject sql.NullString
	var created int64
	err := s.queryRow(ctx, `SELECT m.media_type, m.artifact_type, m.subject, m.annotations, m.payload, m.created_at
		FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = ? AND m.digest = ?`, repo, d.String()).
		Scan(&m.MediaType, &m.ArtifactType, &subject, &m.Annotations, &m.Payload, &created)
	if err := notFound(err, "manifest %s in %s", d, repo); err != nil {
		return nil, err
	}
	m.Subject = digest.Digest(subject.String)
	m.CreatedAt = time.UnixMilli(created)
	return m, nil
}

// GetTaggedManifest implements Store: one query, where a tag lookup then a
// digest lookup would be two.
func (s *SQL) GetTaggedManifest(ctx context.Context, repo, tag string) (*Manifest, error) {
	g, cacheable := s.cache.snapshot()
	if cacheable {
		if m, ok := s.cache.manifest(g, repo, tag); ok {
			return m, nil
		}
	}
	m := &Manifest{}
	var d string
	var subject sql.NullString
	var created int64
	err := s.queryRow(ctx, `SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.annotations, m.payload, m.created_at
		FROM tags t JOIN repositories r ON r.id = t.repo_id
		JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.manifest_digest
		WHERE r.name = ? AND t.name = ?`, repo, tag).
		Scan(&d, &m.MediaType, &m.ArtifactType, &subject, &m.Annotations, &m.Payload, &created)
	if err := notFound(err, "tag %s:%s", repo, tag); err != nil {
		return nil, err
	}
	m.Digest, m.Subject, m.CreatedAt = digest.Digest(d), digest.Digest(subject.String), time.UnixMilli(created)
	if cacheable {
		s.cache.putManifest(g, repo, tag, m)
	}
	return m, nil
}

// ResolveTag implements Store.
func (s *SQL) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	if !s.storable(repo, tag) {
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, ErrNotFound)
	}
	var d string
	err := s.queryRow(ctx, `SELECT t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = ? AND t.name = ?`, repo, tag).Scan(&d)
	return digest.Digest(d), notFound(err, "tag %s:%s", repo, tag)
}

// DeleteManifest implements Store.
func (s *SQL) DeleteManifest(ctx context.Context, repo string, d digest.Digest, keepReferrers bool) ([]digest.Digest, error) {
	var deleted []digest.Digest
	ctx = uninterrupted(ctx)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := s.txQueryRow(ctx, tx, `SELECT id FROM repositories WHERE name = ?`, repo).Scan(&id)
		if err := notFound(err, "repository %s", repo); err != nil {
			return err
		}
		changes, err := s.manifestDeletions(ctx, tx, id, repo, d)
		if err != nil {
			return err
		}
		deleted, err = s.deleteManifestTx(ctx, tx, id, d, keepReferrers)
		if err != nil {
			return err
		}
		if len(deleted) == 0 {
			return fmt.Errorf("manifest %s in %s: %w", d, repo, ErrNotFound)
		}
		for _, r := range deleted[1:] {
			changes = append(changes, Change{Action: ActionDelete, Kind: KindManifest, Repo: repo, Digest: r})
		}
		return s.recordChanges(ctx, tx, changes...)
	})
	return deleted, err
}

// deleteManifestTx removes a manifest, its tags and references, and unless
// keepReferrers the manifests whose subject it is, recursively. What it
// referenced becomes garbage candidates. It returns the manifests removed.
func (s *SQL) deleteManifestTx(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest, keepReferrers bool) ([]digest.Digest, error) {
	refs, err := s.manifestRefs(ctx, tx, repoID, d)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`DELETE FROM tags WHERE repo_id = ? AND manifest_digest = ?`,
		`DELETE FROM manifest_refs WHERE repo_id = ? AND manifest_digest = ?`,
	} {
		if _, err := s.exec(ctx, tx, q, repoID, d.String()); err != nil {
			return nil, fmt.Errorf("delete manifest %s: %w", d, err)
		}
	}
	res, err := s.exec(ctx, tx, `DELETE FROM manifests WHERE repo_id = ? AND digest = ?`, repoID, d.String())
	if err != nil {
		return nil, fmt.Errorf("delete manifest %s: %w", d, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	if err := s.markRemoved(ctx, tx, repoID, d); err != nil {
		return nil, err
	}
	for _, ref := range refs {
		kind := CandidateLink
		if ref.Kind == RefManifest {
			kind = CandidateManifest
		}
		if err := s.enqueue(ctx, tx, kind, repoID, ref.Digest, false); err != nil {
			return nil, err
		}
	}
	deleted := []digest.Digest{d}
	referrers, err := s.referrerDigests(ctx, tx, repoID, d)
	if err != nil {
		return nil, err
	}
	if keepReferrers {
		// Kept referrers now point at a missing subject: candidates for
		// delete-untagged, which removes orphaned artifacts.
		for _, r := range referrers {
			if err := s.enqueue(ctx, tx, CandidateManifest, repoID, r, false); err != nil {
				return nil, err
			}
		}
		return deleted, nil
	}
	for _, r := range referrers {
		more, err := s.deleteManifestTx(ctx, tx, repoID, r, false)
		if err != nil {
			return nil, err
		}
		deleted = append(deleted, more...)
	}
	return deleted, nil
}

// querier is what a transaction and a pool have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// manifestRefs lists what a manifest references, in a transaction or from
// the read pool.
func (s *SQL) manifestRefs(ctx context.Context, q querier, repoID int64, d digest.Digest) ([]Ref, error) {
	rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT ref_digest, kind, absent FROM manifest_refs WHERE repo_id = ? AND manifest_digest = ? ORDER BY ref_digest`), repoID, d.String())
	if err != nil {
		return nil, fmt.Errorf("references of %s: %w", d, err)
	}
	defer rows.Close()
	var refs []Ref
	for rows.Next() {
		var r Ref
		var dg string
		var absent int
		if err := rows.Scan(&dg, &r.Kind, &absent); err != nil {
			return nil, fmt.Errorf("references of %s: %w", d, err)
		}
		r.Digest, r.Absent = digest.Digest(dg), absent == 1
		refs = append(refs, r)
	}
	return refs, rows.Err()
}

// referrerDigests lists the manifests of a repository whose subject is d.
func (s *SQL) referrerDigests(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) ([]digest.Digest, error) {
	rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT digest FROM manifests WHERE repo_id = ? AND subject = ?`), repoID, d.String())
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", d, err)
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var dg string
		if err := rows.Scan(&dg); err != nil {
			return nil, fmt.Errorf("referrers of %s: %w", d, err)
		}
		out = append(out, digest.Digest(dg))
	}
	return out, rows.Err()
}

// DeleteTag implements Store.
func (s *SQL) DeleteTag(ctx context.Context, repo, tag string) error {
	if !s.storable(repo, tag) {
		return fmt.Errorf("tag %s:%s: %w", repo, tag, ErrNotFound)
	}
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.deleteTagTx(ctx, tx, repo, tag)
	})
}

// deleteTagTx removes a tag; its manifest becomes an untagged candidate.
func (s *SQL) deleteTagTx(ctx context.Context, tx *sql.Tx, repo, tag string) error {
	var repoID int64
	var d string
	err := s.txQueryRow(ctx, tx, `SELECT t.repo_id, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = ? AND t.name = ?`, repo, tag).Scan(&repoID, &d)
	if err := notFound(err, "tag %s:%s", repo, tag); err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, `DELETE FROM tags WHERE repo_id = ? AND name = ?`, repoID, tag); err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	if err := s.recordChanges(ctx, tx, Change{Action: ActionDelete, Kind: KindTag, Repo: repo, Tag: tag}); err != nil {
		return err
	}
	return s.enqueue(ctx, tx, CandidateManifest, repoID, digest.Digest(d), false)
}

// Tags implements Store.
func (s *SQL) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	op, last, ok := s.after(last)
	if !ok || !s.storable(repo) {
		return []string{}, nil
	}
	return s.names(ctx, `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
		WHERE r.name = ? AND t.name `+op+` ? ORDER BY t.name LIMIT ?`, n, repo, last)
}

// Repositories implements Store.
func (s *SQL) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	op, last, ok := s.after(last)
	if !ok {
		return []string{}, nil
	}
	return s.names(ctx, `SELECT name FROM repositories WHERE name `+op+` ? ORDER BY name LIMIT ?`, n, last)
}

// names runs a listing query whose last argument is the LIMIT.
func (s *SQL) names(ctx context.Context, q string, n int, args ...any) ([]string, error) {
	if n < 0 {
		n = 1 << 30
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), append(args, n)...)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// RepoExists implements Store.
func (s *SQL) RepoExists(ctx context.Context, repo string) (bool, error) {
	if !s.storable(repo) {
		return false, nil
	}
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM repositories WHERE name = ?`, repo).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up repository %s: %w", repo, err)
	}
	return true, nil
}

// Referrers implements Store.
func (s *SQL) Referrers(ctx context.Context, repo string, d digest.Digest) ([]Referrer, error) {
	if !s.storable(repo, d.String()) {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT m.digest, m.media_type, m.artifact_type, LENGTH(m.payload), m.annotations
		FROM manifests m JOIN repositories r ON r.id = m.repo_id
		WHERE r.name = ? AND m.subject = ? ORDER BY m.digest`), repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	defer rows.Close()
	var out []Referrer
	for rows.Next() {
		var ref Referrer
		var dg string
		if err := rows.Scan(&dg, &ref.MediaType, &ref.ArtifactType, &ref.Size, &ref.Annotations); err != nil {
			return nil, fmt.Errorf("list referrers of %s: %w", d, err)
		}
		ref.Digest = digest.Digest(dg)
		out = append(out, ref)
	}
	return out, rows.Err()
}

// CreateUpload implements Store.
func (s *SQL) CreateUpload(ctx context.Context, u *Upload) error {
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := s.millis()
		_, err := s.exec(ctx, tx, `INSERT INTO uploads (id, repo, byte_offset, hash_state, backend_state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Repo, u.Offset, u.HashState, u.BackendState, now, now)
		if err != nil {
			return fmt.Errorf("create upload %s: %w", u.ID, err)
		}
		return nil
	})
}

// GetUpload implements Store.
func (s *SQL) GetUpload(ctx context.Context, repo, id string) (*Upload, error) {
	if !s.storable(id) {
		return nil, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	u := &Upload{ID: id}
	var created, updated int64
	err := s.queryRow(ctx, `SELECT repo, byte_offset, hash_state, backend_state, content, created_at, updated_at FROM uploads WHERE id = ?`, id).
		Scan(&u.Repo, &u.Offset, &u.HashState, &u.BackendState, (*inlineBytes)(&u.Content), &created, &updated)
	if err := notFound(err, "upload %s", id); err != nil {
		return nil, err
	}
	if repo != "" && u.Repo != repo {
		return nil, fmt.Errorf("upload %s belongs to another repository: %w", id, ErrNotFound)
	}
	u.CreatedAt, u.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return u, nil
}

// AdvanceUpload implements Store.
func (s *SQL) AdvanceUpload(ctx context.Context, id string, from, to int64, hashState, backendState, content []byte) error {
	if !s.storable(id) {
		return fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	// Under PostgreSQL's READ COMMITTED the compare-and-set holds too: a
	// second UPDATE of the row waits for the first to commit, then
	// re-checks its WHERE on the new row, finds the offset moved and
	// changes nothing (ErrConflict).
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE uploads SET byte_offset = ?, hash_state = ?, backend_state = ?, content = ?, updated_at = ? WHERE id = ? AND byte_offset = ?`,
			to, hashState, backendState, content, s.millis(), id, from)
		if err != nil {
			return fmt.Errorf("advance upload %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("upload %s: %w", id, ErrConflict)
		}
		return nil
	})
}

// DeleteUpload implements Store.
func (s *SQL) DeleteUpload(ctx context.Context, id string) error {
	if !s.storable(id) {
		return fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	ctx = uninterrupted(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM uploads WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete upload %s: %w", id, err)
		}
		return mustAffect(res, "upload %s", id)
	})
}

// StaleUploads implements Store.
func (s *SQL) StaleUploads(ctx context.Context, before time.Time) ([]Upload, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT id, repo, byte_offset, backend_state, created_at, updated_at FROM uploads WHERE updated_at < ? ORDER BY updated_at`), before.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list stale uploads: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var u Upload
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.Repo, &u.Offset, &u.BackendState, &created, &updated); err != nil {
			return nil, fmt.Errorf("list stale uploads: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
		out = append(out, u)
	}
	return out, rows.Err()
}

// notFound maps sql.ErrNoRows to ErrNotFound with context.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
	}
	if err != nil {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	return nil
}

func mustAffect(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
	}
	return nil
}

package meta

import (
	"strconv"
	"strings"
)

// dialect holds what differs between SQLite and PostgreSQL; every query is
// written once with ? placeholders and rebound for PostgreSQL.
//
// SQLite runs one writer at a time (a single write connection, BEGIN
// IMMEDIATE), so its transactions never interleave. PostgreSQL runs many
// writers at once, on many nodes, under READ COMMITTED: where a transaction
// checks something and then acts on it, the PostgreSQL dialect takes a lock
// first (row locks through forUpdate/forShare, a per-digest advisory lock
// through lockDigest). Each of these is a no-op on SQLite.
type dialect struct {
	name       string
	blobType   string // type of byte columns
	serialPK   string // auto-numbered primary key column type
	textType   string // type of text columns: compared and sorted bytewise
	dollarArgs bool   // $1, $2 placeholders instead of ?
	rowLocks   bool   // SELECT ... FOR UPDATE / FOR SHARE / SKIP LOCKED exist
	advisory   bool   // pg_advisory_xact_lock exists
	// searchIndex is the index of repository names that serves substring
	// search (see SQL.SearchRepositories).
	searchIndex string
	ftsSearch   bool // searchIndex is SQLite's FTS5 table repositories_search
	// searchText is what search reads besides names: the table of
	// descriptions and star counts and the indexes of descriptions and tag
	// names (see SQL.SearchRepositories).
	searchText string
}

var (
	sqliteDialect = dialect{name: "sqlite", blobType: "BLOB", serialPK: "INTEGER PRIMARY KEY", textType: "TEXT",
		searchIndex: sqliteSearchIndex, ftsSearch: true, searchText: searchTextTable("INTEGER") + sqliteSearchTextIndex}
	// Text columns use the "C" collation so that names compare and sort
	// bytewise whatever the database's default collation is, as SQLite's
	// BINARY collation does (tag and repository listings are in byte order,
	// and paging compares with >).
	postgresDialect = dialect{name: "postgres", blobType: "BYTEA", serialPK: "BIGSERIAL PRIMARY KEY",
		textType: `TEXT COLLATE "C"`, dollarArgs: true, rowLocks: true, advisory: true,
		searchIndex: postgresSearchIndex, searchText: searchTextTable("BIGINT") + postgresSearchTextIndex}
)

// forUpdate is the suffix of a SELECT that locks the rows it returns
// against concurrent change and deletion until the transaction ends.
func (d dialect) forUpdate() string {
	if !d.rowLocks {
		return ""
	}
	return " FOR UPDATE"
}

// forShare is the suffix of a SELECT that keeps the rows it returns from
// being changed or deleted until the transaction ends, while letting other
// transactions share them.
func (d dialect) forShare() string {
	if !d.rowLocks {
		return ""
	}
	return " FOR SHARE"
}

// forUpdateSkipLocked locks the returned rows of table alias and skips rows
// another transaction holds.
func (d dialect) forUpdateSkipLocked(alias string) string {
	if !d.rowLocks {
		return ""
	}
	return " FOR UPDATE OF " + alias + " SKIP LOCKED"
}

// rebind turns ? placeholders into $n for PostgreSQL. Queries in this package
// never contain a literal question mark.
func (d dialect) rebind(q string) string {
	if !d.dollarArgs {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// schema renders a migration for the dialect: the dialect's parts first,
// then the types, which those parts use too.
func (d dialect) schema(m string) string {
	m = strings.NewReplacer("{{search_index}}", d.searchIndex, "{{search_text}}", d.searchText).Replace(m)
	return strings.NewReplacer("{{blob}}", d.blobType, "{{serial}}", d.serialPK, "{{text}}", d.textType).Replace(m)
}

// migrations are applied in order, each once; append, never edit (a
// placeholder may replace a type only where it renders exactly as before for
// every database already migrated: {{text}} is TEXT on SQLite).
// Times are Unix milliseconds in BIGINT columns, portable across dialects.
var migrations = []string{
	`CREATE TABLE repositories (
		id {{serial}},
		name {{text}} NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE blobs (
		digest {{text}} PRIMARY KEY,
		size BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE repository_blobs (
		repo_id BIGINT NOT NULL REFERENCES repositories(id),
		digest {{text}} NOT NULL REFERENCES blobs(digest),
		created_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, digest)
	);
	CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
	CREATE TABLE manifests (
		repo_id BIGINT NOT NULL REFERENCES repositories(id),
		digest {{text}} NOT NULL,
		media_type {{text}} NOT NULL,
		artifact_type {{text}} NOT NULL,
		subject {{text}},
		annotations {{blob}},
		payload {{blob}} NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, digest)
	);
	CREATE INDEX manifests_subject ON manifests(repo_id, subject);
	CREATE TABLE manifest_refs (
		repo_id BIGINT NOT NULL,
		manifest_digest {{text}} NOT NULL,
		ref_digest {{text}} NOT NULL,
		kind INTEGER NOT NULL,
		PRIMARY KEY (repo_id, manifest_digest, ref_digest),
		FOREIGN KEY (repo_id, manifest_digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
	);
	CREATE INDEX manifest_refs_ref ON manifest_refs(repo_id, ref_digest);
	CREATE TABLE tags (
		repo_id BIGINT NOT NULL,
		name {{text}} NOT NULL,
		manifest_digest {{text}} NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, name),
		FOREIGN KEY (repo_id, manifest_digest) REFERENCES manifests(repo_id, digest)
	);
	CREATE INDEX tags_manifest ON tags(repo_id, manifest_digest);
	CREATE TABLE uploads (
		id {{text}} PRIMARY KEY,
		repo {{text}} NOT NULL,
		byte_offset BIGINT NOT NULL,
		hash_state {{blob}},
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX uploads_updated ON uploads(updated_at);`,
	// 2: the garbage collector's review queue. A row is a candidate whose
	// last reference went (fresh = 0) or that was created and is not yet
	// referenced (fresh = 1, reviewed only after the grace period).
	// kind: 1 repository link, 2 blob, 3 manifest; repo_id 0 for blobs.
	`CREATE TABLE gc_queue (
		kind INTEGER NOT NULL,
		repo_id BIGINT NOT NULL,
		digest {{text}} NOT NULL,
		fresh INTEGER NOT NULL,
		enqueued_at BIGINT NOT NULL,
		PRIMARY KEY (kind, repo_id, digest)
	);
	CREATE INDEX gc_queue_due ON gc_queue(fresh, enqueued_at);
	CREATE INDEX tags_updated ON tags(repo_id, updated_at);`,
	// 3: the blob store's own record of an upload in progress (an object
	// store's multipart upload and parts).
	`ALTER TABLE uploads ADD COLUMN backend_state {{blob}};`,
	// 4: small blobs kept inline. A blob row with content holds its bytes
	// itself and has none in the blob store; an upload row with content
	// holds the upload's bytes so far.
	`ALTER TABLE blobs ADD COLUMN content {{blob}};
	ALTER TABLE uploads ADD COLUMN content {{blob}};`,
	// 5: references a sparse manifest was pushed without (absent = 1), so
	// that scrub tells a missing child by design from one that was lost.
	`ALTER TABLE manifest_refs ADD COLUMN absent INTEGER NOT NULL DEFAULT 0;`,
	// 6: content a repository lost lately (a link or manifest removed by
	// the collector or a DELETE). A sparse manifest may reference content
	// the repository never had, not content a client saw there a moment
	// ago and skipped pushing: that push is refused, so the client pushes
	// it again instead of leaving a broken image.
	`CREATE TABLE removed_refs (
		repo_id BIGINT NOT NULL,
		digest {{text}} NOT NULL,
		removed_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, digest)
	);
	CREATE INDEX removed_refs_at ON removed_refs(removed_at);`,
	// 7: when a HEAD or GET last reported a queued link present (NULL:
	// never). The collector keeps such a link for the grace period from
	// then, whatever else queued it; see SQL.touchLink.
	`ALTER TABLE gc_queue ADD COLUMN touched_at BIGINT;`,
	// 8: keys shared by every node of a deployment, by name (the token
	// server's signing key, PEM), so that a token one node signs the
	// others accept without configuration.
	`CREATE TABLE signing_keys (
		name {{text}} PRIMARY KEY,
		pem {{blob}} NOT NULL,
		created_at BIGINT NOT NULL
	);`,
	// 9: repository information: the description set explicitly and the
	// Markdown overview (raw; sanitized when rendered), and who starred a
	// repository. Keyed by name, not repositories.id, so that information
	// set before the first push, or kept across a repository's deletion
	// and re-push, stays; a search joins on repositories.name.
	`CREATE TABLE repo_info (
		repo {{text}} PRIMARY KEY,
		description {{text}} NOT NULL,
		overview {{text}} NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE repo_stars (
		repo {{text}} NOT NULL,
		username {{text}} NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (repo, username)
	);`,
	// 10: search: an index of repository names for substring search,
	// kept in step with the repositories table by the database itself.
	`{{search_index}}`,
	// 11: search over descriptions and tags, ranked by stars: the
	// description search shows (explicit, or else the content's) and the
	// star count per repository, kept by the registry, and indexes of
	// descriptions and tag names.
	`{{search_text}}`,
	// 12: the web UI's manifest page lists the first repositories holding
	// a manifest, by its digest alone, in index order.
	`CREATE INDEX manifests_digest ON manifests(digest, repo_id);`,
	// 13: webhooks' transactional outbox (internal/notify). An event is
	// written in the transaction of the change it reports, with one
	// delivery row per endpoint that wants it; a deliverer leases rows
	// (lease_owner, lease_until), and each try is an attempt row. state:
	// 0 pending, 1 delivered, 2 dead (given up). started_at is when
	// delivery (re)started, for the age limit. The events stay, once
	// delivered, as the audit trail until notifications.retention.
	`CREATE TABLE events (
		seq {{serial}},
		id {{text}} NOT NULL UNIQUE,
		repo {{text}} NOT NULL,
		action {{text}} NOT NULL,
		payload {{blob}} NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX events_created ON events(created_at);
	CREATE INDEX events_repo ON events(repo, seq);
	CREATE TABLE event_deliveries (
		seq BIGINT NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
		endpoint {{text}} NOT NULL,
		repo {{text}} NOT NULL,
		state INTEGER NOT NULL,
		attempts INTEGER NOT NULL,
		started_at BIGINT NOT NULL,
		next_at BIGINT NOT NULL,
		lease_until BIGINT NOT NULL,
		lease_owner {{text}} NOT NULL,
		last_status INTEGER NOT NULL,
		last_error {{text}} NOT NULL,
		done_at BIGINT NOT NULL,
		PRIMARY KEY (seq, endpoint)
	);
	CREATE INDEX event_deliveries_lane ON event_deliveries(endpoint, state, repo, seq);
	CREATE INDEX event_deliveries_due ON event_deliveries(endpoint, state, next_at);
	CREATE TABLE event_attempts (
		id {{serial}},
		seq BIGINT NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
		endpoint {{text}} NOT NULL,
		at BIGINT NOT NULL,
		status INTEGER NOT NULL,
		error {{text}} NOT NULL,
		duration_ms BIGINT NOT NULL,
		node {{text}} NOT NULL
	);
	CREATE INDEX event_attempts_event ON event_attempts(seq, endpoint);`,
	// 14: the pull-through cache's fetch leases: the node holding a key's
	// row fetches that blob from the upstream while the others wait; a
	// crashed node's lease lapses at expires_at.
	// When a cached manifest was last pulled, for eviction by last access
	// (manifests without a row count from their created_at).
	`CREATE TABLE proxy_fetches (
		fetch_key {{text}} PRIMARY KEY,
		expires_at BIGINT NOT NULL
	);
	CREATE TABLE proxy_access (
		repo {{text}} NOT NULL,
		digest {{text}} NOT NULL,
		accessed_at BIGINT NOT NULL,
		PRIMARY KEY (repo, digest)
	);`,
	// 15: web UI sessions ended by a logout before they expired, so a
	// copied cookie stops working on every node; kept until expiry.
	`CREATE TABLE ui_revoked_sessions (
		id {{text}} PRIMARY KEY,
		expires_at BIGINT NOT NULL
	);`,
}

// searchTextTable holds, per repository, the one-line description search
// shows and matches and the star count it ranks by. It is derived (from
// repo_info, repo_stars and content), rebuilt by the registry for
// repositories that lack a row, and so left behind by a migration. Keyed
// by repositories.id (SQLite's rowid), so that ranking every match of a
// broad query joins it cheaply; its rows go with their repository.
func searchTextTable(idType string) string {
	return `CREATE TABLE repo_search (
		repo_id ` + idType + ` PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
		description {{text}} NOT NULL,
		stars BIGINT NOT NULL
	);
	`
}

// sqliteSearchTextIndex is FTS5 trigram indexes of descriptions and of tag
// names, kept in step by triggers. The tag index maps tags' rowids, which
// only a VACUUM (never run by wharf) renumbers; a search re-checks each
// tag it finds, so a renumbered index could miss tags but never invent one.
const sqliteSearchTextIndex = `CREATE VIRTUAL TABLE repo_search_fts USING fts5(
		description, content='repo_search', content_rowid='repo_id', tokenize='trigram');
	CREATE TRIGGER repo_search_fts_insert AFTER INSERT ON repo_search BEGIN
		INSERT INTO repo_search_fts(rowid, description) VALUES (new.repo_id, new.description);
	END;
	CREATE TRIGGER repo_search_fts_delete AFTER DELETE ON repo_search BEGIN
		INSERT INTO repo_search_fts(repo_search_fts, rowid, description) VALUES ('delete', old.repo_id, old.description);
	END;
	CREATE TRIGGER repo_search_fts_update AFTER UPDATE OF description ON repo_search BEGIN
		INSERT INTO repo_search_fts(repo_search_fts, rowid, description) VALUES ('delete', old.repo_id, old.description);
		INSERT INTO repo_search_fts(rowid, description) VALUES (new.repo_id, new.description);
	END;
	CREATE VIRTUAL TABLE tags_search USING fts5(
		name, content='tags', content_rowid='rowid', tokenize='trigram');
	INSERT INTO tags_search(tags_search) VALUES ('rebuild');
	CREATE TRIGGER tags_search_insert AFTER INSERT ON tags BEGIN
		INSERT INTO tags_search(rowid, name) VALUES (new.rowid, new.name);
	END;
	CREATE TRIGGER tags_search_delete AFTER DELETE ON tags BEGIN
		INSERT INTO tags_search(tags_search, rowid, name) VALUES ('delete', old.rowid, old.name);
	END;`

// postgresSearchTextIndex is pg_trgm GIN indexes of descriptions and tag
// names, which serve ILIKE '%q%'; without the extension search scans.
const postgresSearchTextIndex = `DO $$
	BEGIN
		CREATE EXTENSION IF NOT EXISTS pg_trgm;
		CREATE INDEX repo_search_description_trgm ON repo_search USING gin (description gin_trgm_ops);
		CREATE INDEX tags_name_trgm ON tags USING gin (name gin_trgm_ops);
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'wharf: no pg_trgm index for description and tag search (%); search scans them', SQLERRM;
	END $$;`

// sqliteSearchIndex is an FTS5 trigram index over repository names: a
// phrase query of three or more characters finds every name containing it,
// case-insensitively, without scanning the table. Triggers keep it in step
// in whatever transaction creates or deletes a repository.
const sqliteSearchIndex = `CREATE VIRTUAL TABLE repositories_search USING fts5(
		name, content='repositories', content_rowid='id', tokenize='trigram');
	INSERT INTO repositories_search(repositories_search) VALUES ('rebuild');
	CREATE TRIGGER repositories_search_insert AFTER INSERT ON repositories BEGIN
		INSERT INTO repositories_search(rowid, name) VALUES (new.id, new.name);
	END;
	CREATE TRIGGER repositories_search_delete AFTER DELETE ON repositories BEGIN
		INSERT INTO repositories_search(repositories_search, rowid, name) VALUES ('delete', old.id, old.name);
	END;`

// postgresSearchIndex is a pg_trgm GIN index, which serves LIKE '%q%'.
// Creating the extension may need rights the database user lacks: then
// search still works, scanning names, and the server log says why.
const postgresSearchIndex = `DO $$
	BEGIN
		CREATE EXTENSION IF NOT EXISTS pg_trgm;
		CREATE INDEX repositories_name_trgm ON repositories USING gin (name gin_trgm_ops);
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'wharf: no pg_trgm index for repository search (%); search scans names', SQLERRM;
	END $$;`

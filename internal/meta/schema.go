package meta

import (
	"strconv"
	"strings"
)

// dialect holds what differs between SQLite and PostgreSQL; every query is
// written once with ? placeholders and rebound for PostgreSQL.
type dialect struct {
	name       string
	blobType   string // type of byte columns
	serialPK   string // auto-numbered primary key column type
	dollarArgs bool   // $1, $2 placeholders instead of ?
}

var (
	sqliteDialect   = dialect{name: "sqlite", blobType: "BLOB", serialPK: "INTEGER PRIMARY KEY"}
	postgresDialect = dialect{name: "postgres", blobType: "BYTEA", serialPK: "BIGSERIAL PRIMARY KEY", dollarArgs: true}
)

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

// schema renders a migration for the dialect.
func (d dialect) schema(m string) string {
	return strings.NewReplacer("{{blob}}", d.blobType, "{{serial}}", d.serialPK).Replace(m)
}

// migrations are applied in order, each once; append, never edit.
// Times are Unix milliseconds in BIGINT columns, portable across dialects.
var migrations = []string{
	`CREATE TABLE repositories (
		id {{serial}},
		name TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE blobs (
		digest TEXT PRIMARY KEY,
		size BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE repository_blobs (
		repo_id BIGINT NOT NULL REFERENCES repositories(id),
		digest TEXT NOT NULL REFERENCES blobs(digest),
		created_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, digest)
	);
	CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
	CREATE TABLE manifests (
		repo_id BIGINT NOT NULL REFERENCES repositories(id),
		digest TEXT NOT NULL,
		media_type TEXT NOT NULL,
		artifact_type TEXT NOT NULL,
		subject TEXT,
		annotations {{blob}},
		payload {{blob}} NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, digest)
	);
	CREATE INDEX manifests_subject ON manifests(repo_id, subject);
	CREATE TABLE manifest_refs (
		repo_id BIGINT NOT NULL,
		manifest_digest TEXT NOT NULL,
		ref_digest TEXT NOT NULL,
		kind INTEGER NOT NULL,
		PRIMARY KEY (repo_id, manifest_digest, ref_digest),
		FOREIGN KEY (repo_id, manifest_digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
	);
	CREATE INDEX manifest_refs_ref ON manifest_refs(repo_id, ref_digest);
	CREATE TABLE tags (
		repo_id BIGINT NOT NULL,
		name TEXT NOT NULL,
		manifest_digest TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (repo_id, name),
		FOREIGN KEY (repo_id, manifest_digest) REFERENCES manifests(repo_id, digest)
	);
	CREATE INDEX tags_manifest ON tags(repo_id, manifest_digest);
	CREATE TABLE uploads (
		id TEXT PRIMARY KEY,
		repo TEXT NOT NULL,
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
		digest TEXT NOT NULL,
		fresh INTEGER NOT NULL,
		enqueued_at BIGINT NOT NULL,
		PRIMARY KEY (kind, repo_id, digest)
	);
	CREATE INDEX gc_queue_due ON gc_queue(fresh, enqueued_at);
	CREATE INDEX tags_updated ON tags(repo_id, updated_at);`,
	// 3: the blob store's own record of an upload in progress (an object
	// store's multipart upload and parts).
	`ALTER TABLE uploads ADD COLUMN backend_state {{blob}};`,
}

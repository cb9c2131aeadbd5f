package server

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// defaultMaxConns is the PostgreSQL pool size when database.maxconns is unset.
const defaultMaxConns = 16

// openMetaStore opens the metadata store cfg names: PostgreSQL when the
// database section is set, else SQLite under the root directory.
func openMetaStore(ctx context.Context, cfg *config.Config) (meta.Store, error) {
	s, err := openSQL(ctx, cfg)
	if err != nil {
		return nil, err
	}
	grace := cfg.GC.GracePeriod
	if cfg.Storage.Maintenance.ReadOnly.Enabled {
		// No push can follow a HEAD: nothing to protect, and reads
		// should not write.
		grace = 0
	}
	s.SetGracePeriod(grace)
	return s, nil
}

func openSQL(ctx context.Context, cfg *config.Config) (*meta.SQL, error) {
	if db := cfg.Database; db != nil {
		maxConns := db.MaxConns
		if maxConns <= 0 {
			maxConns = defaultMaxConns
		}
		return meta.OpenPostgres(ctx, postgresDSN(db), maxConns)
	}
	return meta.OpenSQLite(ctx, MetadataPath(cfg.Storage.Filesystem.RootDirectory))
}

// postgresDSN returns the connection string of the database section: its
// dsn when set, else a postgres:// URL built from host, port, user,
// password, dbname and sslmode, each escaped. A host starting with / is a
// Unix socket directory. Fields left empty are left to the driver's
// defaults (and the PG* environment variables).
func postgresDSN(db *config.Database) string {
	if db.DSN != "" {
		return db.DSN
	}
	u := url.URL{Scheme: "postgres"}
	q := url.Values{}
	host := db.Host
	if strings.HasPrefix(host, "/") {
		q.Set("host", host)
		host = ""
	}
	if host != "" {
		u.Host = host
		if db.Port > 0 {
			u.Host = net.JoinHostPort(host, strconv.Itoa(db.Port))
		} else if strings.Contains(host, ":") {
			u.Host = "[" + host + "]" // a bare IPv6 address
		}
	} else if db.Port > 0 {
		q.Set("port", strconv.Itoa(db.Port))
	}
	switch {
	case db.User != "" && db.Password != "":
		u.User = url.UserPassword(db.User, db.Password)
	case db.User != "":
		u.User = url.User(db.User)
	case db.Password != "":
		q.Set("password", db.Password)
	}
	if db.DBName != "" {
		u.Path = "/" + db.DBName
	}
	if db.SSLMode != "" {
		q.Set("sslmode", db.SSLMode)
	}
	u.RawQuery = q.Encode()
	// With neither host nor user, url.URL writes "postgres:?..." while
	// the driver recognises a URL by "postgres://".
	return "postgres://" + strings.TrimPrefix(strings.TrimPrefix(u.String(), "postgres:"), "//")
}

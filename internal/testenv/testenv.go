// Package testenv finds the outside services the test suites need (a
// PostgreSQL server, an S3 server, Azurite, fake-gcs-server, the pebble ACME server), which scripts/test-services.sh starts
// and announces in WHARF_TEST_* variables, and makes fresh databases on
// them. Without a service a test skips, saying how to run it; with CI set it
// fails instead, so a CI run never skips one silently.
package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Need returns the values of the environment variables vars. If any is
// empty the test skips with how (the way to run it), or fails under CI.
func Need(t testing.TB, how string, vars ...string) []string {
	t.Helper()
	out := make([]string, len(vars))
	var missing []string
	for i, v := range vars {
		out[i] = os.Getenv(v)
		if out[i] == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is not: %s", strings.Join(missing, ", "), how)
		}
		t.Skip(how)
	}
	return out
}

// Postgres returns the DSN of the test PostgreSQL server.
func Postgres(t testing.TB, how string) string {
	t.Helper()
	return Need(t, how, "WHARF_TEST_POSTGRES_DSN")[0]
}

// S3Server is the test S3 server and its credentials.
type S3Server struct {
	Endpoint, AccessKey, SecretKey, Region string
}

// S3 returns the test S3 server.
func S3(t testing.TB, how string) S3Server {
	t.Helper()
	e := S3Server{Endpoint: Need(t, how, "WHARF_TEST_S3_ENDPOINT")[0]}
	e.AccessKey = os.Getenv("WHARF_TEST_S3_ACCESS_KEY")
	e.SecretKey = os.Getenv("WHARF_TEST_S3_SECRET_KEY")
	e.Region = os.Getenv("WHARF_TEST_S3_REGION")
	if e.Region == "" {
		e.Region = "us-east-1"
	}
	return e
}

// Host splits the endpoint URL into minio-go's host and secure flag.
func (e S3Server) Host() (string, bool) {
	if h, ok := strings.CutPrefix(e.Endpoint, "https://"); ok {
		return strings.TrimSuffix(h, "/"), true
	}
	return strings.TrimSuffix(strings.TrimPrefix(e.Endpoint, "http://"), "/"), false
}

// FreshDatabase creates an empty database named prefix plus a random
// suffix on the server of adminDSN, drops it when the test ends (after the
// cleanups registered later, such as closing stores or killing servers),
// and returns its DSN.
func FreshDatabase(t testing.TB, adminDSN, prefix string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatalf("open %s: %v", adminDSN, err)
	}
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		db.Close()
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		// FORCE ends any connection left open all the same.
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(adminDSN, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase returns dsn, a postgres:// URL or keyword=value pairs, with
// its database name replaced.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // keyword=value: the last one wins
}

// PebbleBins are the binaries of Let's Encrypt's test ACME server and its
// DNS companion, which the tests start themselves.
type PebbleBins struct {
	Pebble, ChallTestSrv string
}

// Pebble returns the pebble binaries.
func Pebble(t testing.TB, how string) PebbleBins {
	t.Helper()
	v := Need(t, how, "WHARF_TEST_PEBBLE", "WHARF_TEST_PEBBLE_CHALLTESTSRV")
	return PebbleBins{Pebble: v[0], ChallTestSrv: v[1]}
}

// Browser is what the web UI's browser tests need.
type Browser struct {
	// Chromium is the headless browser's binary.
	Chromium string
	// Axe is axe-core's axe.min.js, for the accessibility scan.
	Axe string
}

// Chromium returns the browser and axe-core that scripts/services/chromium.sh
// installs.
func Chromium(t testing.TB, how string) Browser {
	t.Helper()
	v := Need(t, how, "WHARF_TEST_CHROMIUM", "WHARF_TEST_AXE")
	return Browser{Chromium: v[0], Axe: v[1]}
}

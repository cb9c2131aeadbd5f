package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-registry/wharf/internal/config"
)

func TestSpaceGuard(t *testing.T) {
	size := func(n int64) *config.Size { s := config.Size(n); return &s }
	for _, tc := range []struct {
		name        string
		s3, pg      bool
		cloud       string // "azure" or "gcs": that object store instead
		reserve     *config.Size
		wantGuard   bool
		wantReserve int64 // when set; unset: the filesystem's default
		wantBallast bool  // a stale ballast survives
	}{
		{name: "filesystem and SQLite, default", wantGuard: true, wantBallast: true},
		{name: "explicit", reserve: size(8 << 20), wantGuard: true, wantReserve: 8 << 20, wantBallast: true},
		{name: "off removes the ballast", reserve: size(0)},
		{name: "S3 with SQLite still guards the database", s3: true, wantGuard: true, wantBallast: true},
		{name: "filesystem with PostgreSQL guards the blobs", pg: true, wantGuard: true, wantBallast: true},
		{name: "S3 and PostgreSQL: nothing local", s3: true, pg: true, wantBallast: true},
		{name: "Azure and PostgreSQL: nothing local", cloud: "azure", pg: true, wantBallast: true},
		{name: "GCS and PostgreSQL: nothing local", cloud: "gcs", pg: true, wantBallast: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"uploads", "metadata"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(BallastPath(root), []byte("stale"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			cfg.Storage.Filesystem.RootDirectory = root
			cfg.Storage.Reserve = tc.reserve
			if tc.s3 {
				cfg.Storage.S3 = &config.S3{Bucket: "b"}
			}
			switch tc.cloud {
			case "azure":
				cfg.Storage.Azure = &config.Azure{AccountName: "a", Container: "c"}
			case "gcs":
				cfg.Storage.GCS = &config.GCS{Bucket: "b"}
			}
			if tc.pg {
				cfg.Database = &config.Database{DSN: "postgres://x"}
			}
			g, err := spaceGuard(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if (g != nil) != tc.wantGuard {
				t.Fatalf("guard %v, want one: %t", g, tc.wantGuard)
			}
			if g != nil && tc.wantReserve != 0 && g.Reserve() != tc.wantReserve {
				t.Errorf("reserve %d, want %d", g.Reserve(), tc.wantReserve)
			}
			if g != nil && tc.wantReserve == 0 && (g.Reserve() <= 0 || g.Reserve() > 64<<20) {
				t.Errorf("default reserve %d, want up to 64 MiB", g.Reserve())
			}
			if _, err := os.Stat(BallastPath(root)); (err == nil) != tc.wantBallast {
				t.Errorf("ballast exists: %t, want %t", err == nil, tc.wantBallast)
			}
		})
	}
}

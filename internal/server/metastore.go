package server

import (
	"context"
	"errors"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// openMetaStore opens the metadata store cfg names: PostgreSQL when the
// database section is set, else SQLite under the root directory.
func openMetaStore(ctx context.Context, cfg *config.Config) (meta.Store, error) {
	if cfg.Database != nil {
		return nil, errors.New("database: the PostgreSQL metadata store is not built into this version yet")
	}
	return meta.OpenSQLite(ctx, MetadataPath(cfg.Storage.Filesystem.RootDirectory))
}

package server

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// MetadataPath is where the embedded SQLite metadata lives under the root.
func MetadataPath(root string) string { return filepath.Join(root, "metadata", "wharf.db") }

// OpenStores opens the blob and metadata stores cfg names. The caller
// closes the metadata store.
func OpenStores(ctx context.Context, cfg *config.Config) (blob.Store, meta.Store, error) {
	if cfg.Storage.S3 != nil {
		return nil, nil, errors.New("storage.s3: the S3 blob store is not built into this version yet")
	}
	if cfg.Database != nil {
		return nil, nil, errors.New("database: the PostgreSQL metadata store is not built into this version yet")
	}
	root := cfg.Storage.Filesystem.RootDirectory
	blobs, err := blob.NewFilesystem(root)
	if err != nil {
		return nil, nil, err
	}
	md, err := meta.OpenSQLite(ctx, MetadataPath(root))
	if err != nil {
		return nil, nil, err
	}
	return blobs, md, nil
}

package server

import (
	"context"
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
	blobs, err := openBlobStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	md, err := openMetaStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return blobs, md, nil
}

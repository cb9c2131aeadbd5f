package server

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/diskspace"
	"github.com/wharf-registry/wharf/internal/meta"
)

// MetadataPath is where the embedded SQLite metadata lives under the root.
func MetadataPath(root string) string { return filepath.Join(root, "metadata", "wharf.db") }

// OpenStores opens the blob and metadata stores cfg names. The caller
// closes the metadata store. On a nearly full disk the metadata store
// gives back storage.reserve before writing, so that a command such as
// garbage-collect can still write.
func OpenStores(ctx context.Context, cfg *config.Config) (blob.Store, meta.Store, error) {
	blobs, md, _, err := openStores(ctx, cfg, slog.Default())
	return blobs, md, err
}

// openStores is OpenStores, also returning the guard of storage.reserve
// (nil when off).
func openStores(ctx context.Context, cfg *config.Config, log *slog.Logger) (blob.Store, meta.Store, *diskspace.Guard, error) {
	blobs, err := openBlobStore(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	md, err := openMetaStore(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	guard, err := spaceGuard(cfg, log)
	if err != nil {
		md.Close()
		return nil, nil, nil, err
	}
	watchSpace(md, guard)
	return blobs, md, guard, nil
}

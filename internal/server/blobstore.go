package server

import (
	"context"
	"errors"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
)

// openBlobStore opens the blob store cfg names: S3 when storage.s3 is set,
// else the filesystem under storage.filesystem.rootdirectory.
func openBlobStore(_ context.Context, cfg *config.Config) (blob.Store, error) {
	if cfg.Storage.S3 != nil {
		return nil, errors.New("storage.s3: the S3 blob store is not built into this version yet")
	}
	return blob.NewFilesystem(cfg.Storage.Filesystem.RootDirectory)
}

package server

import (
	"context"
	"log/slog"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/importer"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// ImportRegistry2 imports the registry:2 (distribution) layout under the
// root directory into md, serving its blobs in place from blobs. Manifests
// are validated with the configuration's policies, even on a read-only
// registry: the import only records what is already there.
func ImportRegistry2(ctx context.Context, cfg *config.Config, blobs blob.Store, md meta.Store, log *slog.Logger, opts importer.Options) (importer.Report, error) {
	reg := registry.New(blobs, md, registry.Options{
		Sparse: sparsePolicy(cfg.Validation.Manifests.Sparse),
		URLs:   urlPolicy(cfg.Validation),
	}, log)
	return importer.New(cfg.Storage.Filesystem.RootDirectory, blobs, md, reg, log, opts).Run(ctx)
}

// autoImport imports a registry:2 layout found under the root directory
// the first time wharf serves it, before anything else (the collector
// above all) looks at the metadata.
func autoImport(ctx context.Context, cfg *config.Config, blobs blob.Store, md meta.Store, log *slog.Logger) error {
	root := cfg.Storage.Filesystem.RootDirectory
	if cfg.Storage.S3 != nil || !importer.Present(root) || importer.Done(root) {
		return nil
	}
	_, err := ImportRegistry2(ctx, cfg, blobs, md, log, importer.Options{})
	return err
}

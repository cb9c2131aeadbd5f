package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/importer"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

// ImportRegistry2 imports the registry:2 (distribution) layout under the
// blob store's root (a directory or a bucket's prefix) into md, serving
// its blobs in place. Manifests are validated with the configuration's
// policies, even on a read-only registry: the import only records what is
// already there.
func ImportRegistry2(ctx context.Context, cfg *config.Config, blobs blob.Store, md meta.Store, log *slog.Logger, opts importer.Options) (importer.Report, error) {
	store, ok := blobs.(importer.Store)
	if !ok {
		return importer.Report{}, fmt.Errorf("import: the blob store cannot list its files")
	}
	reg := registry.New(blobs, md, registry.Options{
		Sparse:            sparsePolicy(cfg.Validation.Manifests),
		RequiredPlatforms: requiredPlatforms(cfg.Validation.Manifests.Indexes),
		URLs:              urlPolicy(cfg.Validation),
	}, log)
	return importer.New(store, md, reg, log, opts).Run(ctx)
}

// Registry2Present reports whether the blob store holds a registry:2
// layout.
func Registry2Present(ctx context.Context, blobs blob.Store) (bool, error) {
	store, ok := blobs.(importer.Store)
	if !ok {
		return false, nil
	}
	return importer.Present(ctx, store)
}

// registry2Pending reports whether the blob store holds a registry:2
// layout not imported yet.
func registry2Pending(ctx context.Context, blobs blob.Store) (bool, error) {
	present, err := Registry2Present(ctx, blobs)
	if err != nil || !present {
		return false, err
	}
	done, err := importer.Done(ctx, blobs.(importer.Store))
	return !done, err
}

// autoImport imports a registry:2 layout found under the blob store's root
// the first time wharf serves it, before anything else (the collector
// above all) looks at the metadata.
func autoImport(ctx context.Context, cfg *config.Config, blobs blob.Store, md meta.Store, log *slog.Logger) error {
	pending, err := registry2Pending(ctx, blobs)
	if err != nil {
		return fmt.Errorf("look for registry:2 data: %w", err)
	}
	if !pending {
		return nil
	}
	_, err = ImportRegistry2(ctx, cfg, blobs, md, log, importer.Options{})
	return err
}

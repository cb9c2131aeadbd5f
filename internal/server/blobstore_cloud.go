package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/azure"
	"github.com/wharf-registry/wharf/internal/blob/gcs"
	"github.com/wharf-registry/wharf/internal/config"
)

// openCloudStore opens storage.azure or storage.gcs; ok is false when
// neither is configured.
func openCloudStore(ctx context.Context, cfg *config.Config) (s blob.Store, ok bool, err error) {
	switch {
	case cfg.Storage.Azure != nil:
		st, err := azure.New(ctx, azureOptions(cfg.Storage.Azure))
		if err != nil {
			return nil, true, fmt.Errorf("storage.azure: %w", err)
		}
		return st, true, nil
	case cfg.Storage.GCS != nil:
		opts, err := gcsOptions(cfg.Storage.GCS)
		if err != nil {
			return nil, true, fmt.Errorf("storage.gcs: %w", err)
		}
		st, err := gcs.New(ctx, opts)
		if err != nil {
			return nil, true, fmt.Errorf("storage.gcs: %w", err)
		}
		return st, true, nil
	}
	return nil, false, nil
}

// gcsOptions maps distribution's storage.gcs keys onto the store's
// options: credentials, a service account key inlined as YAML, becomes the
// JSON of its key file.
func gcsOptions(c *config.GCS) (gcs.Options, error) {
	opts := gcs.Options{
		Bucket:        c.Bucket,
		KeyFile:       c.KeyFile,
		RootDirectory: c.RootDirectory,
		ChunkSize:     c.ChunkSize,
	}
	if len(c.Credentials) > 0 {
		j, err := json.Marshal(c.Credentials)
		if err != nil {
			return opts, fmt.Errorf("credentials: %w", err)
		}
		opts.CredentialsJSON = j
	}
	return opts, nil
}

// azureOptions maps distribution's storage.azure keys onto the store's
// options. config.Validate has checked them.
func azureOptions(c *config.Azure) azure.Options {
	return azure.Options{
		AccountName:   c.AccountName,
		AccountKey:    c.AccountKey,
		Container:     c.Container,
		Realm:         c.Realm,
		ServiceURL:    c.ServiceURL,
		RootDirectory: c.RootDirectory,
		Credentials: azure.Credentials{
			Type:     c.Credentials.Type,
			ClientID: c.Credentials.ClientID,
			TenantID: c.Credentials.TenantID,
			Secret:   c.Credentials.Secret,
		},
	}
}

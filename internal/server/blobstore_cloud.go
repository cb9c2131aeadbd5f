package server

import (
	"context"
	"fmt"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/blob/azure"
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
	}
	return nil, false, nil
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

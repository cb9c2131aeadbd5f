package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/health"
	"github.com/wharf-registry/wharf/internal/meta"
)

// healthChecks turns the health section into checks.
func healthChecks(h config.Health, blobs blob.Store, md meta.Store) []health.Check {
	var checks []health.Check
	if h.StorageDriver.Enabled {
		checks = append(checks, health.Check{Name: "storagedriver", Interval: h.StorageDriver.Interval,
			Threshold: h.StorageDriver.Threshold, Run: storesAnswer(blobs, md)})
	}
	for _, f := range h.File {
		checks = append(checks, health.Check{Name: "file " + f.File, Interval: f.Interval, Run: health.FileCheck(f.File)})
	}
	for _, x := range h.HTTP {
		checks = append(checks, health.Check{Name: "http " + x.URI, Interval: x.Interval, Threshold: x.Threshold,
			Run: health.HTTPCheck(x.URI, x.Headers, x.StatusCode, x.Timeout)})
	}
	for _, x := range h.TCP {
		checks = append(checks, health.Check{Name: "tcp " + x.Addr, Interval: x.Interval, Threshold: x.Threshold,
			Run: health.TCPCheck(x.Addr, x.Timeout)})
	}
	return checks
}

// storesAnswer checks that both stores answer: the blob store a stat (a
// missing blob is an answer), the metadata database a one-row listing.
func storesAnswer(blobs blob.Store, md meta.Store) func(context.Context) error {
	// Any digest will do: asking for it reaches the blob store, and its
	// absence is an answer too.
	probe := digest.FromBytes(nil)
	return func(ctx context.Context) error {
		if _, err := blobs.Stat(ctx, probe); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("blob store: %w", err)
		}
		if _, err := md.Repositories(ctx, "", 1); err != nil {
			return fmt.Errorf("metadata database: %w", err)
		}
		return nil
	}
}

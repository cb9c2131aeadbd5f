package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
)

// openBlobStore opens the blob store cfg names: S3, Azure or GCS when
// storage.s3, storage.azure or storage.gcs is set, else the filesystem
// under storage.filesystem.rootdirectory.
func openBlobStore(ctx context.Context, cfg *config.Config) (blob.Store, error) {
	if s, ok, err := openCloudStore(ctx, cfg); ok {
		return s, err
	}
	if cfg.Storage.S3 != nil {
		opts, err := s3Options(cfg.Storage.S3)
		if err != nil {
			return nil, fmt.Errorf("storage.s3: %w", err)
		}
		s, err := blob.NewS3(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("storage.s3: %w", err)
		}
		return s, nil
	}
	return blob.NewFilesystem(cfg.Storage.Filesystem.RootDirectory)
}

// s3DefaultRegion is used when storage.s3.region is empty.
const s3DefaultRegion = "us-east-1"

// s3Options maps distribution's storage.s3 keys onto the S3 store's
// options. config.Validate has checked them.
//
//   - region: defaults to us-east-1.
//   - storageclass: NONE (distribution's "send no storage class") and empty
//     leave the bucket's default.
func s3Options(c *config.S3) (blob.S3Options, error) {
	opts := blob.S3Options{
		Region:        c.Region,
		Bucket:        c.Bucket,
		RootDirectory: c.RootDirectory,
		AccessKey:     c.AccessKey,
		SecretKey:     c.SecretKey,
		SkipVerify:    c.SkipVerify,
		PathStyle:     c.ForcePathStyle,
		PartSize:      c.ChunkSize,
		StorageClass:  c.StorageClass,
	}
	if opts.Region == "" {
		opts.Region = s3DefaultRegion
	}
	if strings.EqualFold(opts.StorageClass, "NONE") {
		opts.StorageClass = ""
	}
	var err error
	if opts.Endpoint, opts.Secure, err = c.Endpoint(); err != nil {
		return opts, fmt.Errorf("regionendpoint: %w", err)
	}
	return opts, nil
}

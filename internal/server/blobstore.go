package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
)

// openBlobStore opens the blob store cfg names: S3 when storage.s3 is set,
// else the filesystem under storage.filesystem.rootdirectory.
func openBlobStore(ctx context.Context, cfg *config.Config) (blob.Store, error) {
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

// s3Options maps distribution's storage.s3 keys onto the S3 store's options.
//
//   - regionendpoint: the S3 API's URL (http://minio:9000) or host[:port];
//     empty means AWS. Its scheme sets whether HTTPS is used; without a
//     scheme HTTPS is the default.
//   - secure: when set, overrides what the scheme said.
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
	if opts.Bucket == "" {
		return opts, fmt.Errorf("bucket is required")
	}
	if opts.Region == "" {
		opts.Region = s3DefaultRegion
	}
	if strings.EqualFold(opts.StorageClass, "NONE") {
		opts.StorageClass = ""
	}
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return opts, fmt.Errorf("accesskey and secretkey go together (leave both empty to use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared credentials file or an instance role)")
	}
	if opts.PartSize != 0 && (opts.PartSize < blob.S3MinPartSize || opts.PartSize > blob.S3MaxPartSize) {
		return opts, fmt.Errorf("chunksize %d must be between %d (5 MiB) and %d (5 GiB)", opts.PartSize, blob.S3MinPartSize, int64(blob.S3MaxPartSize))
	}
	secure := true
	if ep := strings.TrimSpace(c.RegionEndpoint); ep != "" {
		if strings.Contains(ep, "://") {
			u, err := url.Parse(ep)
			if err != nil {
				return opts, fmt.Errorf("regionendpoint %q: %w", ep, err)
			}
			switch strings.ToLower(u.Scheme) {
			case "http":
				secure = false
			case "https":
				secure = true
			default:
				return opts, fmt.Errorf("regionendpoint %q: scheme must be http or https", ep)
			}
			if u.Host == "" {
				return opts, fmt.Errorf("regionendpoint %q has no host", ep)
			}
			if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				return opts, fmt.Errorf("regionendpoint %q: S3 endpoints take no path or query", ep)
			}
			opts.Endpoint = u.Host
		} else {
			if strings.Contains(strings.TrimSuffix(ep, "/"), "/") {
				return opts, fmt.Errorf("regionendpoint %q: S3 endpoints take no path", ep)
			}
			opts.Endpoint = strings.TrimSuffix(ep, "/")
		}
	}
	if c.Secure != nil {
		secure = *c.Secure
	}
	opts.Secure = secure
	return opts, nil
}

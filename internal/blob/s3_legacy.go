package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// legacyBlobKey is where distribution's S3 driver keeps blob d's bytes
// under the same root directory: docker/registry/v2/blobs/<alg>/<first two
// hex>/<hex>/data.
func (s *S3) legacyBlobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.prefix + LegacyDir + "/blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex + "/data"
}

func (s *S3) legacyBlobsPrefix() string { return s.prefix + LegacyDir + "/blobs/" }

// hasLegacy reports whether distribution's blobs are in the bucket, so a
// blob missing from wharf's keys is looked for there.
func (s *S3) hasLegacy(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.legacyBlobsPrefix(), MaxKeys: 1}) {
		if obj.Err != nil {
			return false, fmt.Errorf("s3: look for registry:2 blobs: %w", obj.Err)
		}
		return true, nil
	}
	return false, nil
}

// blobKeyFound returns the key holding blob d, wharf's own first, with its
// size; ErrNotFound when neither holds it.
func (s *S3) blobKeyFound(ctx context.Context, d digest.Digest) (string, int64, error) {
	keys := []string{s.blobKey(d)}
	if s.legacy {
		keys = append(keys, s.legacyBlobKey(d))
	}
	for _, key := range keys {
		info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		if isS3NotFound(err) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("stat blob %s: %w", d, err)
		}
		return key, info.Size, nil
	}
	return "", 0, ErrNotFound
}

// walkLegacy calls fn for distribution's blobs that wharf's keys do not
// hold too (own lists those Walk reported already).
func (s *S3) walkLegacy(ctx context.Context, own map[digest.Digest]bool, fn func(d digest.Digest, size int64) error) error {
	base := s.legacyBlobsPrefix()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("walk registry:2 blobs: %w", obj.Err)
		}
		parts := strings.Split(strings.TrimPrefix(obj.Key, base), "/")
		if len(parts) != 4 || parts[3] != "data" || len(parts[2]) < 2 || parts[1] != parts[2][:2] {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil || own[d] {
			continue
		}
		if err := fn(d, obj.Size); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var _ Tree = (*S3)(nil)

// List implements Tree: the names of the keys and common prefixes one
// level under dir.
func (s *S3) List(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	var out []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, obj.Err)
		}
		if name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, base), "/"); name != "" {
			out = append(out, name)
		}
	}
	return out, nil
}

// Files implements Tree.
func (s *S3) Files(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	var out []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list files under %s: %w", dir, obj.Err)
		}
		out = append(out, strings.TrimPrefix(obj.Key, base))
	}
	return out, nil
}

// Read implements Tree.
func (s *S3) Read(ctx context.Context, path string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+path, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if isS3NotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Write implements Tree.
func (s *S3) Write(ctx context.Context, path string, content []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+path, bytes.NewReader(content), int64(len(content)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, s3Full(err))
	}
	return nil
}

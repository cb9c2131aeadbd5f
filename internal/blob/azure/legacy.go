package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// legacyBlobKey is where distribution's Azure driver keeps blob d's bytes
// under the same root directory.
func (s *Store) legacyBlobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.legacyBlobsPrefix() + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex + "/data"
}

func (s *Store) legacyBlobsPrefix() string { return s.prefix + blob.LegacyDir + "/blobs/" }

// hasLegacy reports whether distribution's blobs are in the container.
func (s *Store) hasLegacy(ctx context.Context) (bool, error) {
	prefix := s.legacyBlobsPrefix()
	one := int32(1)
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, MaxResults: &one})
	if !pager.More() {
		return false, nil
	}
	page, err := pager.NextPage(ctx)
	if err != nil {
		return false, fmt.Errorf("azure: look for registry:2 blobs: %w", err)
	}
	return len(page.Segment.BlobItems) > 0, nil
}

// blobKeyFound returns the key holding blob d, wharf's own first, with its
// size; blob.ErrNotFound when neither holds it.
func (s *Store) blobKeyFound(ctx context.Context, d digest.Digest) (string, int64, error) {
	keys := []string{s.blobKey(d)}
	if s.legacy {
		keys = append(keys, s.legacyBlobKey(d))
	}
	for _, key := range keys {
		p, err := s.container.NewBlobClient(key).GetProperties(ctx, nil)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("stat blob %s: %w", d, err)
		}
		var size int64
		if p.ContentLength != nil {
			size = *p.ContentLength
		}
		return key, size, nil
	}
	return "", 0, blob.ErrNotFound
}

// walkLegacy calls fn for distribution's blobs that wharf's keys do not
// hold too.
func (s *Store) walkLegacy(ctx context.Context, own map[digest.Digest]bool, fn func(d digest.Digest, size int64) error) error {
	base := s.legacyBlobsPrefix()
	return s.list(ctx, base, func(name string, size int64, _ time.Time) error {
		parts := strings.Split(strings.TrimPrefix(name, base), "/")
		if len(parts) != 4 || parts[3] != "data" || len(parts[2]) < 2 || parts[1] != parts[2][:2] {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil || own[d] {
			return nil
		}
		return fn(d, size)
	})
}

// List implements blob.Tree: the names one level under dir.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	pager := s.container.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &base})
	var out []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		for _, p := range page.Segment.BlobPrefixes {
			if p.Name != nil {
				if name := strings.TrimSuffix(strings.TrimPrefix(*p.Name, base), "/"); name != "" {
					out = append(out, name)
				}
			}
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil {
				if name := strings.TrimPrefix(*b.Name, base); name != "" {
					out = append(out, name)
				}
			}
		}
	}
	return out, nil
}

// Files implements blob.Tree.
func (s *Store) Files(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	var out []string
	err := s.list(ctx, base, func(name string, _ int64, _ time.Time) error {
		out = append(out, strings.TrimPrefix(name, base))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files under %s: %w", dir, err)
	}
	return out, nil
}

// Read implements blob.Tree.
func (s *Store) Read(ctx context.Context, path string) ([]byte, error) {
	rc, err := s.download(ctx, s.prefix+path, 0, 0)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return nil, blob.ErrNotFound
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Write implements blob.Tree.
func (s *Store) Write(ctx context.Context, path string, content []byte) error {
	_, err := s.container.NewBlockBlobClient(s.prefix+path).Upload(ctx,
		streaming.NopCloser(bytes.NewReader(content)), &blockblob.UploadOptions{})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, full(err))
	}
	return nil
}

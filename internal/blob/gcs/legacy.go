package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// legacyBlobKey is where distribution's GCS driver keeps blob d's bytes
// under the same root directory.
func (s *Store) legacyBlobKey(d digest.Digest) string {
	hex := d.Encoded()
	return s.legacyBlobsPrefix() + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex + "/data"
}

func (s *Store) legacyBlobsPrefix() string { return s.prefix + blob.LegacyDir + "/blobs/" }

// hasLegacy reports whether distribution's blobs are in the bucket.
func (s *Store) hasLegacy(ctx context.Context) (bool, error) {
	found := false
	err := s.listPages(ctx, s.legacyBlobsPrefix(), "", 1, func(listed) error {
		found = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("gcs: look for registry:2 blobs: %w", err)
	}
	return found, nil
}

// blobKeyFound returns the key holding blob d, wharf's own first, with its
// size; blob.ErrNotFound when neither holds it.
func (s *Store) blobKeyFound(ctx context.Context, d digest.Digest) (string, int64, error) {
	keys := []string{s.blobKey(d)}
	if s.legacy {
		keys = append(keys, s.legacyBlobKey(d))
	}
	for _, key := range keys {
		size, err := s.objectSize(ctx, key)
		if errors.Is(err, errNotExist) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("stat blob %s: %w", d, err)
		}
		return key, size, nil
	}
	return "", 0, blob.ErrNotFound
}

// walkLegacy calls fn for distribution's blobs that wharf's keys do not
// hold too.
func (s *Store) walkLegacy(ctx context.Context, own map[digest.Digest]bool, fn func(d digest.Digest, size int64) error) error {
	base := s.legacyBlobsPrefix()
	return s.list(ctx, base, func(a listed) error {
		parts := strings.Split(strings.TrimPrefix(a.Name, base), "/")
		if len(parts) != 4 || parts[3] != "data" || len(parts[2]) < 2 || parts[1] != parts[2][:2] {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		if d.Validate() != nil || own[d] {
			return nil
		}
		return fn(d, a.Size)
	})
}

// List implements blob.Tree: the names one level under dir.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	var out []string
	err := s.listPages(ctx, base, "/", 0, func(a listed) error {
		if name := strings.TrimSuffix(strings.TrimPrefix(a.Name, base), "/"); name != "" {
			out = append(out, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

// Files implements blob.Tree.
func (s *Store) Files(ctx context.Context, dir string) ([]string, error) {
	base := s.prefix + strings.Trim(dir, "/") + "/"
	var out []string
	err := s.list(ctx, base, func(a listed) error {
		out = append(out, strings.TrimPrefix(a.Name, base))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files under %s: %w", dir, err)
	}
	return out, nil
}

// Read implements blob.Tree.
func (s *Store) Read(ctx context.Context, path string) ([]byte, error) {
	rc, err := s.read(ctx, s.prefix+path, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Write implements blob.Tree (it replaces what path held).
func (s *Store) Write(ctx context.Context, path string, content []byte) error {
	if err := s.insert(ctx, s.prefix+path, content, false); err != nil {
		return fmt.Errorf("write %s: %w", path, full(err))
	}
	return nil
}

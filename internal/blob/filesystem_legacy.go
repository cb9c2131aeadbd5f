package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// LegacyDir is where distribution (registry:2) keeps its data under the
// same root directory. Blobs found there are served in place after
// `wharf import`, so switching from registry:2 copies no bytes.
const LegacyDir = "docker/registry/v2"

// legacyBlobPath is where distribution keeps blob d's bytes:
// blobs/<alg>/<first two hex>/<hex>/data.
func (f *Filesystem) legacyBlobPath(d digest.Digest) string {
	hex := d.Encoded()
	return filepath.Join(f.root, LegacyDir, "blobs", string(d.Algorithm()), hex[:2], hex, "data")
}

// statBlob finds blob d in wharf's own place, then in distribution's.
func (f *Filesystem) statBlob(d digest.Digest) (string, fs.FileInfo, error) {
	path := f.blobPath(d)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		path = f.legacyBlobPath(d)
		fi, err = os.Stat(path)
	}
	return path, fi, err
}

// openBlob opens blob d from wharf's own place, then distribution's.
func (f *Filesystem) openBlob(d digest.Digest) (*os.File, error) {
	file, err := os.Open(f.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		file, err = os.Open(f.legacyBlobPath(d))
	}
	return file, err
}

// deleteLegacyBlob removes distribution's copy of blob d and its then
// empty directory; a missing one is not an error.
func (f *Filesystem) deleteLegacyBlob(d digest.Digest) error {
	path := f.legacyBlobPath(d)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	// distribution leaves nothing else there; a failure only leaves an
	// empty directory behind.
	_ = os.Remove(filepath.Dir(path))
	return nil
}

// walkLegacy calls fn for every blob in distribution's layout that wharf's
// own place does not hold too (it would be reported there already).
func (f *Filesystem) walkLegacy(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	base := filepath.Join(f.root, LegacyDir, "blobs")
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() || e.Name() != "data" {
			return nil
		}
		d, ok := legacyDigest(base, path)
		if !ok {
			return nil
		}
		if _, err := os.Stat(f.blobPath(d)); err == nil {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed while walking
		}
		return fn(d, info.Size())
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// legacyDigest parses <alg>/<hex[:2]>/<hex>/data under base.
func legacyDigest(base, path string) (digest.Digest, bool) {
	rel, err := filepath.Rel(base, path)
	if err != nil {
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 4 {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
	if d.Validate() != nil || parts[1] != parts[2][:2] {
		return "", false
	}
	return d, true
}

var _ Tree = (*Filesystem)(nil)

// List implements Tree.
func (f *Filesystem) List(_ context.Context, dir string) ([]string, error) {
	des, err := os.ReadDir(filepath.Join(f.root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := make([]string, 0, len(des))
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out, nil
}

// Files implements Tree.
func (f *Filesystem) Files(ctx context.Context, dir string) ([]string, error) {
	base := filepath.Join(f.root, filepath.FromSlash(dir))
	var out []string
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files under %s: %w", dir, err)
	}
	return out, nil
}

// Read implements Tree.
func (f *Filesystem) Read(_ context.Context, path string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(path)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Write implements Tree: a temporary file, synced and renamed into place.
func (f *Filesystem) Write(_ context.Context, path string, content []byte) error {
	final := filepath.Join(f.root, filepath.FromSlash(path))
	tmp := final + ".tmp"
	file, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = file.Write(content)
	if err == nil {
		err = syncData(file)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(filepath.Dir(final))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, markFull(err))
	}
	return nil
}

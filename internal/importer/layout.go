package importer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// layout reads distribution's tree (registry/storage/paths.go in
// distribution documents it) under docker/registry/v2 of a blob store's
// root, on a filesystem or in a bucket alike.
type layout struct {
	tree blob.Tree
}

func reposDir() string { return path.Join(blob.LegacyDir, "repositories") }

// blobDataPath is where distribution keeps blob d's bytes.
func blobDataPath(d digest.Digest) string {
	hex := d.Encoded()
	return path.Join(blob.LegacyDir, "blobs", string(d.Algorithm()), hex[:2], hex, "data")
}

// repository is what distribution recorded for one repository.
type repository struct {
	name      string
	layers    []digest.Digest
	revisions []digest.Digest
	// tags maps each tag to its current manifest.
	tags    map[string]digest.Digest
	uploads []string
}

// repositories lists every repository: a directory holding _layers,
// _manifests or _uploads. Names nest (a/b beside a), so the walk goes on
// below a repository's own directory, skipping its underscore entries.
func (l layout) repositories(ctx context.Context) ([]string, error) {
	var names []string
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := l.tree.List(ctx, path.Join(reposDir(), rel))
		if err != nil {
			return err
		}
		isRepo := false
		for _, e := range entries {
			switch {
			case e == "_layers" || e == "_manifests" || e == "_uploads":
				isRepo = true
			case strings.HasPrefix(e, "_") || strings.HasPrefix(e, "."):
			default:
				if err := walk(path.Join(rel, e)); err != nil {
					return err
				}
			}
		}
		if isRepo && rel != "" {
			names = append(names, rel)
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// readRepository reads one repository's links, tags and uploads.
func (l layout) readRepository(ctx context.Context, name string) (*repository, error) {
	dir := path.Join(reposDir(), name)
	r := &repository{name: name}
	var err error
	if r.layers, err = l.digestLinks(ctx, path.Join(dir, "_layers")); err != nil {
		return nil, err
	}
	if r.revisions, err = l.digestLinks(ctx, path.Join(dir, "_manifests", "revisions")); err != nil {
		return nil, err
	}
	if r.tags, err = l.currentTags(ctx, path.Join(dir, "_manifests", "tags")); err != nil {
		return nil, err
	}
	if r.uploads, err = l.tree.List(ctx, path.Join(dir, "_uploads")); err != nil {
		return nil, err
	}
	return r, nil
}

// digestLinks finds the dir/<alg>/<hex>/link files, in one listing. A
// directory without its link is content distribution deleted (a manifest
// DELETE removes the revision's link file only), so it is skipped. The
// path names the digest; distribution writes the same digest in the file.
func (l layout) digestLinks(ctx context.Context, dir string) ([]digest.Digest, error) {
	files, err := l.tree.Files(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, f := range files {
		parts := strings.Split(f, "/")
		if len(parts) != 3 || parts[2] != "link" {
			continue // signatures/..., stray files
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[1])
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("link %s: %w", path.Join(dir, f), err)
		}
		out = append(out, d)
	}
	return out, nil
}

// currentTags reads tags/<tag>/current/link for every tag.
func (l layout) currentTags(ctx context.Context, dir string) (map[string]digest.Digest, error) {
	names, err := l.tree.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	tags := make(map[string]digest.Digest, len(names))
	for _, tag := range names {
		d, err := l.readLink(ctx, path.Join(dir, tag, "current", "link"))
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tags[tag] = d
	}
	return tags, nil
}

// readLink reads a link file: a digest.
func (l layout) readLink(ctx context.Context, p string) (digest.Digest, error) {
	b, err := l.tree.Read(ctx, p)
	if err != nil {
		return "", err
	}
	d, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("link %s: %w", p, err)
	}
	return d, nil
}

package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// layout reads distribution's directory tree (registry/storage/paths.go in
// distribution documents it) under root/docker/registry/v2.
type layout struct {
	base string
}

func newLayout(root string) layout {
	return layout{base: filepath.Join(root, blob.LegacyDir)}
}

func (l layout) reposDir() string { return filepath.Join(l.base, "repositories") }

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
func (l layout) repositories() ([]string, error) {
	var names []string
	base := l.reposDir()
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if path != base && strings.HasPrefix(e.Name(), "_") {
			if e.Name() == "_layers" || e.Name() == "_manifests" || e.Name() == "_uploads" {
				rel, err := filepath.Rel(base, filepath.Dir(path))
				if err != nil {
					return err
				}
				names = append(names, filepath.ToSlash(rel))
			}
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list repositories in %s: %w", base, err)
	}
	sort.Strings(names)
	return slices.Compact(names), nil
}

// readRepository reads one repository's links, tags and uploads.
func (l layout) readRepository(name string) (*repository, error) {
	dir := filepath.Join(l.reposDir(), filepath.FromSlash(name))
	r := &repository{name: name, tags: map[string]digest.Digest{}}
	var err error
	if r.layers, err = digestLinks(filepath.Join(dir, "_layers")); err != nil {
		return nil, err
	}
	if r.revisions, err = digestLinks(filepath.Join(dir, "_manifests", "revisions")); err != nil {
		return nil, err
	}
	if r.tags, err = currentTags(filepath.Join(dir, "_manifests", "tags")); err != nil {
		return nil, err
	}
	if r.uploads, err = entries(filepath.Join(dir, "_uploads")); err != nil {
		return nil, err
	}
	return r, nil
}

// digestLinks reads dir/<alg>/<hex>/link files. A directory without its
// link is content distribution deleted (a manifest DELETE removes the
// revision's link file only), so it is skipped.
func digestLinks(dir string) ([]digest.Digest, error) {
	algs, err := entries(dir)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, alg := range algs {
		hexes, err := entries(filepath.Join(dir, alg))
		if err != nil {
			return nil, err
		}
		for _, hex := range hexes {
			d, err := readLink(filepath.Join(dir, alg, hex, "link"))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if d.Algorithm() != digest.Algorithm(alg) || d.Encoded() != hex {
				return nil, fmt.Errorf("link %s names %s", filepath.Join(dir, alg, hex), d)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// currentTags reads tags/<tag>/current/link for every tag.
func currentTags(dir string) (map[string]digest.Digest, error) {
	names, err := entries(dir)
	if err != nil {
		return nil, err
	}
	tags := make(map[string]digest.Digest, len(names))
	for _, tag := range names {
		d, err := readLink(filepath.Join(dir, tag, "current", "link"))
		if errors.Is(err, fs.ErrNotExist) {
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
func readLink(path string) (digest.Digest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	d, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("link %s: %w", path, err)
	}
	return d, nil
}

// entries lists a directory's names; a missing directory has none.
func entries(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	out := make([]string, 0, len(des))
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out, nil
}

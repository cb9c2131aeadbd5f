package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/meta"
)

// Upstream is a pull-through cache: it owns the cached repositories
// (named <upstream>/<path>) and fills them from the registries they mirror
// when a pull misses. The api package does not know it exists: the
// registry consults it after its own stores.
type Upstream interface {
	// Cached reports whether repo lies in a cached namespace.
	Cached(repo string) bool
	// Manifest returns manifest ref of a cached repository: the stored one
	// while it is fresh, else the upstream's, stored before it is returned.
	Manifest(ctx context.Context, repo, ref string) (ManifestInfo, error)
	// StatBlob answers a HEAD for a blob the cached repository lacks.
	StatBlob(ctx context.Context, repo string, d digest.Digest) (BlobInfo, error)
	// OpenBlob opens a blob the cached repository lacks, streaming from
	// the upstream while it is stored.
	OpenBlob(ctx context.Context, repo string, d digest.Digest) (blob.Content, BlobInfo, error)
	// BlobHit counts a blob of a cached repository served from the stores.
	BlobHit(repo string)
}

// SetUpstream makes u fill the cached repositories. It is called once,
// before the registry serves requests.
func (r *Registry) SetUpstream(u Upstream) { r.upstream = u }

// cached reports whether repo is filled by the upstream.
func (r *Registry) cached(repo string) bool {
	return r.upstream != nil && r.upstream.Cached(repo)
}

// refuseCached refuses client writes into a cached namespace: its content
// is the upstream's, and a push would shadow it.
func (r *Registry) refuseCached(repo string) error {
	if r.cached(repo) {
		return errorf(CodeDenied, "repository %q is a pull-through cache of an upstream registry and takes no pushes; push to a name outside the cached namespaces", repo)
	}
	return nil
}

// isBlobUnknown reports the registry's own BLOB_UNKNOWN error.
func isBlobUnknown(err error) bool {
	e, ok := AsError(err)
	return ok && e.Code == CodeBlobUnknown
}

// LocalManifest returns manifest ref of repo from the stores alone, never
// asking an upstream.
func (r *Registry) LocalManifest(ctx context.Context, repo, ref string) (ManifestInfo, error) {
	return r.localManifest(ctx, repo, ref)
}

// LocalStatBlob is StatBlob from the stores alone.
func (r *Registry) LocalStatBlob(ctx context.Context, repo string, d digest.Digest) (BlobInfo, error) {
	return r.localStatBlob(ctx, repo, d)
}

// LocalOpenBlob is OpenBlob from the stores alone.
func (r *Registry) LocalOpenBlob(ctx context.Context, repo string, d digest.Digest) (blob.Content, BlobInfo, error) {
	return r.localOpenBlob(ctx, repo, d)
}

// StoreCachedBlob stores a blob fetched from an upstream into cached
// repository repo, through the same verified commit path as a push: the
// digest is checked before anything is committed.
func (r *Registry) StoreCachedBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader) (BlobInfo, error) {
	return r.putBlob(ctx, repo, d, body)
}

// LinkCachedBlob links a blob the registry already holds into cached
// repository repo, after the upstream confirmed it serves it there. It
// reports false when the registry does not hold the blob.
func (r *Registry) LinkCachedBlob(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	if err := r.checkWrite(); err != nil {
		return false, err
	}
	err := r.meta.LinkBlob(ctx, repo, d)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, wrap(err, "link cached blob")
}

// PutCachedManifest stores manifest bytes fetched from an upstream, exactly
// as received, with the given tags. Every reference may be absent: a cache
// holds only what clients pulled. A reference the repository lost lately
// (evicted) is returned with MANIFEST_BLOB_UNKNOWN, for the caller to
// fetch again before it retries.
func (r *Registry) PutCachedManifest(ctx context.Context, repo string, tags []string, mediaType string, payload []byte) (ManifestInfo, []meta.Ref, error) {
	// In read-only mode the caches serve what they hold and fill nothing.
	if err := r.checkWrite(); err != nil {
		return ManifestInfo{}, nil, err
	}
	if int64(len(payload)) > r.opts.MaxManifestSize {
		return ManifestInfo{}, nil, errorf(CodeTooLarge, "upstream manifest exceeds %d bytes", r.opts.MaxManifestSize)
	}
	d := digest.FromBytes(payload)
	m, err := parseManifest(mediaType, payload, d)
	if err != nil {
		return ManifestInfo{}, nil, err
	}
	for i := range m.Refs {
		m.Refs[i].Optional = true
	}
	if err := r.meta.PutManifestTags(ctx, repo, m, tags); err != nil {
		var missing *meta.MissingRefsError
		if errors.As(err, &missing) {
			return ManifestInfo{}, missing.Refs, missingRefsError(missing)
		}
		return ManifestInfo{}, nil, wrap(err, "store cached manifest")
	}
	if len(tags) > 0 {
		r.refreshSearch(ctx, repo)
	}
	return ManifestInfo{Digest: d, MediaType: m.MediaType, Payload: payload, Subject: m.Subject, Tags: tags}, nil, nil
}

// HoldsBlob reports whether the registry holds blob d in any repository.
func (r *Registry) HoldsBlob(ctx context.Context, d digest.Digest) (bool, error) {
	_, err := r.meta.BlobSize(ctx, d)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, wrap(err, "stat blob %s", d)
}

// RepositoryExists reports whether repo holds anything.
func (r *Registry) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	ok, err := r.meta.RepoExists(ctx, repo)
	return ok, wrap(err, "repository %s", repo)
}

// EvictCached deletes manifest d of cached repository repo with its tags,
// whatever storage.delete.enabled says: eviction is the cache's own
// housekeeping. What the manifest referenced becomes a garbage candidate,
// so the collector frees only what nothing else references.
func (r *Registry) EvictCached(ctx context.Context, repo string, d digest.Digest) error {
	if err := r.checkWrite(); err != nil {
		return err
	}
	if !r.cached(repo) {
		return fmt.Errorf("evict %s@%s: not a cached repository", repo, d)
	}
	_, err := r.meta.DeleteManifest(ctx, repo, d, r.opts.KeepReferrers)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		r.refreshSearch(ctx, repo)
	}
	return wrap(err, "evict %s@%s", repo, d)
}

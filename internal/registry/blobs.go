package registry

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/blob"
)

// BlobInfo describes a blob a repository may serve.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
}

// StatBlob returns the size of blob d if repo may serve it.
func (r *Registry) StatBlob(ctx context.Context, repo string, d digest.Digest) (BlobInfo, error) {
	info, err := r.localStatBlob(ctx, repo, d)
	if err != nil && r.cached(repo) && isBlobUnknown(err) {
		return r.upstream.StatBlob(ctx, repo, d)
	}
	return info, err
}

func (r *Registry) localStatBlob(ctx context.Context, repo string, d digest.Digest) (BlobInfo, error) {
	size, err := r.meta.RepoBlobSize(ctx, repo, d)
	if isNotFound(err) {
		return BlobInfo{}, errorf(CodeBlobUnknown, "blob %s unknown to repository %q", d, repo)
	}
	if err != nil {
		return BlobInfo{}, wrap(err, "stat blob")
	}
	return BlobInfo{Digest: d, Size: size}, nil
}

// repoBlob returns the size of blob d of repo and its bytes if inline.
func (r *Registry) repoBlob(ctx context.Context, repo string, d digest.Digest) (int64, []byte, error) {
	size, content, err := r.meta.RepoBlob(ctx, repo, d)
	if isNotFound(err) {
		return 0, nil, errorf(CodeBlobUnknown, "blob %s unknown to repository %q", d, repo)
	}
	if err != nil {
		return 0, nil, wrap(err, "stat blob")
	}
	return size, content, nil
}

// OpenBlob opens blob d of repo for reading.
func (r *Registry) OpenBlob(ctx context.Context, repo string, d digest.Digest) (blob.Content, BlobInfo, error) {
	c, info, err := r.localOpenBlob(ctx, repo, d)
	if r.cached(repo) {
		if err == nil {
			r.upstream.BlobHit(repo)
		} else if isBlobUnknown(err) {
			return r.upstream.OpenBlob(ctx, repo, d)
		}
	}
	return c, info, err
}

func (r *Registry) localOpenBlob(ctx context.Context, repo string, d digest.Digest) (blob.Content, BlobInfo, error) {
	size, content, err := r.repoBlob(ctx, repo, d)
	if err != nil {
		return nil, BlobInfo{}, err
	}
	info := BlobInfo{Digest: d, Size: size}
	if content != nil {
		return newInlineContent(content), info, nil
	}
	c, size, err := r.blobs.Open(ctx, d)
	if isNotFound(err) {
		// A row without bytes breaks the store's rule; say so loudly, and
		// answer as the spec would for a missing blob.
		r.log.Error("blob row present but bytes missing", "digest", d, "repo", repo)
		return nil, BlobInfo{}, errorf(CodeBlobUnknown, "blob %s unknown to registry", d)
	}
	if err != nil {
		return nil, BlobInfo{}, wrap(err, "open blob")
	}
	info.Size = size
	return c, info, nil
}

// BlobRedirect returns a URL the client can fetch blob d of repo from
// directly, or "" when the store serves no such URLs (or redirects are
// disabled) and the registry streams the bytes itself.
func (r *Registry) BlobRedirect(ctx context.Context, repo string, d digest.Digest) (string, error) {
	rd, ok := r.blobs.(blob.Redirector)
	if !ok || r.opts.DisableRedirect {
		return "", nil
	}
	_, content, err := r.repoBlob(ctx, repo, d)
	if err != nil && r.cached(repo) && isBlobUnknown(err) {
		return "", nil // not cached yet: OpenBlob fetches and streams it
	}
	if err != nil || content != nil {
		return "", err // inline bytes are served by wharf itself
	}
	u, err := rd.RedirectURL(ctx, d)
	return u, wrap(err, "redirect for blob %s", d)
}

// MinChunkSize is the smallest upload chunk the blob store handles without
// extra work, 0 when any size is fine.
func (r *Registry) MinChunkSize() int64 {
	if cs, ok := r.blobs.(blob.ChunkSizer); ok {
		return cs.MinChunkSize()
	}
	return 0
}

// DeleteBlob unlinks blob d from repo; the bytes stay until garbage
// collection finds no repository needs them.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := r.checkDelete(); err != nil {
		return err
	}
	err := r.meta.UnlinkBlob(ctx, repo, d)
	if isNotFound(err) {
		return errorf(CodeBlobUnknown, "blob %s unknown to repository %q", d, repo)
	}
	return wrap(err, "delete blob")
}

// MountBlob links blob d from repository from into repo. An empty from is
// the OCI 1.1 anonymous mount: the blob is linked if the registry holds it
// at all. It reports false when the blob cannot be mounted, and the caller
// should start a normal upload.
func (r *Registry) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (bool, error) {
	if err := r.checkWrite(); err != nil {
		return false, err
	}
	if err := r.refuseCached(repo); err != nil {
		return false, err
	}
	if from != "" {
		if err := ValidateName(from); err != nil {
			return false, nil // a bad "from" only means no mount, per the spec
		}
		if _, err := r.meta.RepoBlobSize(ctx, from, d); err != nil {
			if isNotFound(err) {
				return false, nil
			}
			return false, wrap(err, "mount blob")
		}
	}
	if err := r.meta.LinkBlob(ctx, repo, d); err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, wrap(err, "mount blob")
	}
	return true, nil
}

package registry

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// deletePage is how many manifests DeleteRepository lists at a time.
const deletePage = 500

// ImageIDs maps each of repo's tags to its image id, as the v1 API's tag
// listing answers (NAME_UNKNOWN if repo does not exist).
func (r *Registry) ImageIDs(ctx context.Context, repo string) (map[string]string, error) {
	tags, _, err := r.Tags(ctx, repo, "", -1)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(tags))
	for _, tag := range tags {
		id, err := r.ImageID(ctx, repo, tag)
		if _, ok := AsError(err); ok {
			continue // the tag went meanwhile
		}
		if err != nil {
			return nil, err
		}
		out[tag] = id
	}
	return out, nil
}

// ImageID is the image id of tag in repo: the hex of its config digest,
// what `docker images` shows (for an index, of its linux/amd64 child,
// else its first); for a manifest without a config wharf holds (an
// artifact, an index whose chosen child is absent), the hex of the
// manifest digest itself.
func (r *Registry) ImageID(ctx context.Context, repo, tag string) (string, error) {
	if err := ValidateTag(tag); err != nil {
		return "", err
	}
	m, err := r.meta.GetTaggedManifest(ctx, repo, tag)
	if isNotFound(err) {
		return "", r.unknownManifest(ctx, repo, tag)
	}
	if err != nil {
		return "", wrap(err, "get manifest")
	}
	cfg, err := r.ImageConfig(ctx, repo, m)
	if err != nil {
		return "", err
	}
	if cfg == "" {
		cfg = m.Digest
	}
	return cfg.Encoded(), nil
}

// DeleteRepository deletes every manifest of repo, and with them every
// tag; blobs and the repository row go with the garbage collector.
func (r *Registry) DeleteRepository(ctx context.Context, repo string) error {
	if err := r.checkDelete(); err != nil {
		return err
	}
	if err := r.requireRepo(ctx, repo); err != nil {
		return err
	}
	after := ""
	for {
		page, err := r.meta.ManifestDigests(ctx, repo, after, deletePage)
		if err != nil {
			return wrap(err, "list manifests")
		}
		if len(page) == 0 {
			return nil
		}
		for _, d := range page {
			if err := r.deleteManifestDigest(ctx, repo, d); err != nil {
				return err
			}
		}
		after = string(page[len(page)-1])
	}
}

// deleteManifestDigest deletes one manifest; one already gone (a referrer
// deleted with its subject) is no error.
func (r *Registry) deleteManifestDigest(ctx context.Context, repo string, d digest.Digest) error {
	_, err := r.meta.DeleteManifest(ctx, repo, d, r.opts.KeepReferrers)
	if isNotFound(err) {
		return nil
	}
	return wrap(err, "delete manifest %s", d)
}

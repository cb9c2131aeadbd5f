package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// ManifestInfo is a stored manifest as served to clients.
type ManifestInfo struct {
	Digest    digest.Digest
	MediaType string
	Payload   []byte
	Subject   digest.Digest
	// Tags are the tags a push pointed at the manifest.
	Tags []string
}

// PutManifest validates payload and stores it under ref (a tag or a digest).
// It returns the manifest's digest and its subject, if any.
func (r *Registry) PutManifest(ctx context.Context, repo, ref, contentType string, payload []byte) (ManifestInfo, error) {
	return r.PutManifestTags(ctx, repo, ref, nil, contentType, payload)
}

// MaxTagParams bounds the tags one manifest push may set through tag
// parameters: they are all written in one transaction.
const MaxTagParams = 100

// PutManifestTags is PutManifest with the spec's tag parameters (PUT
// /v2/<name>/manifests/<digest>?tag=a&tag=b): every tag in tags is pointed
// at the manifest in the same transaction. Tags need a digest reference;
// the manifest keeps that digest, whatever its algorithm, so each tag
// resolves to it. ManifestInfo.Tags lists the tags set.
func (r *Registry) PutManifestTags(ctx context.Context, repo, ref string, tags []string, contentType string, payload []byte) (ManifestInfo, error) {
	if err := r.checkWrite(); err != nil {
		return ManifestInfo{}, err
	}
	if err := r.refuseCached(repo); err != nil {
		return ManifestInfo{}, err
	}
	if int64(len(payload)) > r.opts.MaxManifestSize {
		return ManifestInfo{}, errorf(CodeTooLarge, "manifest exceeds %d bytes", r.opts.MaxManifestSize)
	}
	d, tag, err := manifestIdentity(ref, payload)
	if err != nil {
		return ManifestInfo{}, err
	}
	tags, err = tagParams(ref, tag, tags)
	if err != nil {
		return ManifestInfo{}, err
	}
	m, err := parseManifest(contentType, payload, d)
	if err != nil {
		return ManifestInfo{}, err
	}
	if err := r.opts.URLs.check(layerURLs(payload)); err != nil {
		return ManifestInfo{}, err
	}
	if err := r.checkPresentChildren(ctx, repo, m); err != nil {
		return ManifestInfo{}, err
	}
	required := r.requiredChildren(m)
	for i := range m.Refs {
		m.Refs[i].Optional = r.opts.Sparse.allows(m.Refs[i].Kind) && !required[m.Refs[i].Digest]
	}
	if err := r.meta.PutManifestTags(ctx, repo, m, tags); err != nil {
		var missing *meta.MissingRefsError
		if errors.As(err, &missing) {
			return ManifestInfo{}, missingRefsError(missing)
		}
		return ManifestInfo{}, wrap(err, "store manifest")
	}
	if len(tags) > 0 {
		r.refreshSearch(ctx, repo) // the newest tag describes the repository
	}
	return ManifestInfo{Digest: d, MediaType: m.MediaType, Payload: payload, Subject: m.Subject, Tags: tags}, nil
}

// tagParams returns the tags a push sets: the tag reference, or the tag
// parameters of a push by digest, validated and without duplicates.
func tagParams(ref, tag string, params []string) ([]string, error) {
	if len(params) == 0 {
		if tag == "" {
			return nil, nil
		}
		return []string{tag}, nil
	}
	if tag != "" {
		return nil, errorf(CodeTagInvalid, "tag parameters need a digest reference, not tag %q", truncate(ref))
	}
	if len(params) > MaxTagParams {
		return nil, errorf(CodeTooManyTags, "%d tag parameters; at most %d per request", len(params), MaxTagParams)
	}
	out := make([]string, 0, len(params))
	for _, t := range params {
		if err := ValidateTag(t); err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// manifestIdentity returns the digest a pushed manifest is stored under and
// the tag to point at it (empty when pushed by digest). A manifest pushed by
// digest must hash to that digest with its algorithm.
func manifestIdentity(ref string, payload []byte) (digest.Digest, string, error) {
	if !IsDigest(ref) {
		if err := ValidateTag(ref); err != nil {
			return "", "", err
		}
		return digest.FromBytes(payload), ref, nil
	}
	want, err := ParseDigest(ref)
	if err != nil {
		return "", "", err
	}
	if got := want.Algorithm().FromBytes(payload); got != want {
		return "", "", errorf(CodeDigestInvalid, "manifest has digest %s, not %s", got, want)
	}
	return want, "", nil
}

func missingRefsError(e *meta.MissingRefsError) error {
	digests := make([]string, len(e.Refs))
	for i, ref := range e.Refs {
		digests[i] = ref.Digest.String()
	}
	err := errorf(CodeManifestBlobUnknown, "manifest references %d blob(s) or manifest(s) unknown to the repository, first %s", len(digests), digests[0])
	err.Detail = map[string]any{"digests": digests}
	return err
}

// GetManifest returns the manifest ref (a tag or a digest) of repo.
func (r *Registry) GetManifest(ctx context.Context, repo, ref string) (ManifestInfo, error) {
	if r.cached(repo) {
		return r.upstream.Manifest(ctx, repo, ref)
	}
	return r.localManifest(ctx, repo, ref)
}

func (r *Registry) localManifest(ctx context.Context, repo, ref string) (ManifestInfo, error) {
	if !IsDigest(ref) {
		return r.getTagged(ctx, repo, ref)
	}
	d, err := r.resolve(ctx, repo, ref)
	if err != nil {
		return ManifestInfo{}, err
	}
	m, err := r.meta.GetManifest(ctx, repo, d)
	if isNotFound(err) {
		return ManifestInfo{}, r.unknownManifest(ctx, repo, ref)
	}
	if err != nil {
		return ManifestInfo{}, wrap(err, "get manifest")
	}
	return ManifestInfo{Digest: d, MediaType: m.MediaType, Payload: m.Payload, Subject: m.Subject}, nil
}

// getTagged returns the manifest a tag points at, in one lookup.
func (r *Registry) getTagged(ctx context.Context, repo, tag string) (ManifestInfo, error) {
	if err := ValidateTag(tag); err != nil {
		return ManifestInfo{}, err
	}
	m, err := r.meta.GetTaggedManifest(ctx, repo, tag)
	if isNotFound(err) {
		return ManifestInfo{}, r.unknownManifest(ctx, repo, tag)
	}
	if err != nil {
		return ManifestInfo{}, wrap(err, "get manifest")
	}
	return ManifestInfo{Digest: m.Digest, MediaType: m.MediaType, Payload: m.Payload, Subject: m.Subject}, nil
}

// resolve turns a tag or digest reference into a digest.
func (r *Registry) resolve(ctx context.Context, repo, ref string) (digest.Digest, error) {
	if IsDigest(ref) {
		return ParseDigest(ref)
	}
	if err := ValidateTag(ref); err != nil {
		return "", err
	}
	d, err := r.meta.ResolveTag(ctx, repo, ref)
	if isNotFound(err) {
		return "", r.unknownManifest(ctx, repo, ref)
	}
	if err != nil {
		return "", wrap(err, "resolve tag")
	}
	return d, nil
}

// unknownManifest says NAME_UNKNOWN for a repository that does not exist and
// MANIFEST_UNKNOWN for a missing manifest in one that does.
func (r *Registry) unknownManifest(ctx context.Context, repo, ref string) error {
	if err := r.requireRepo(ctx, repo); err != nil {
		return err
	}
	return errorf(CodeManifestUnknown, "manifest %q unknown to repository %q", ref, repo)
}

// DeleteManifest deletes by digest (the manifest and its tags) or by tag
// (only the tag).
func (r *Registry) DeleteManifest(ctx context.Context, repo, ref string) error {
	if err := r.checkDelete(); err != nil {
		return err
	}
	var err error
	if IsDigest(ref) {
		var d digest.Digest
		if d, err = ParseDigest(ref); err != nil {
			return err
		}
		var deleted []digest.Digest
		deleted, err = r.meta.DeleteManifest(ctx, repo, d, r.opts.KeepReferrers)
		if len(deleted) > 1 {
			r.log.InfoContext(ctx, "deleted manifest with its referrers", "repo", repo, "digest", d, "referrers", deleted[1:])
		}
	} else {
		if err = ValidateTag(ref); err != nil {
			return err
		}
		err = r.meta.DeleteTag(ctx, repo, ref)
	}
	if isNotFound(err) {
		return r.unknownManifest(ctx, repo, ref)
	}
	if err == nil {
		r.refreshSearch(ctx, repo) // the newest tag may have gone
	}
	return wrap(err, "delete manifest")
}

// Tags lists repo's tags in order after last, at most n (n < 0: all). more
// reports whether further tags follow.
func (r *Registry) Tags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	if err := r.requireRepo(ctx, repo); err != nil {
		return nil, false, err
	}
	return page(n, func(limit int) ([]string, error) { return r.meta.Tags(ctx, repo, last, limit) })
}

// Catalog lists repository names in order after last, at most n.
func (r *Registry) Catalog(ctx context.Context, last string, n int) (repos []string, more bool, err error) {
	return page(n, func(limit int) ([]string, error) { return r.meta.Repositories(ctx, last, limit) })
}

// page fetches one more than n to learn whether another page follows.
func page(n int, list func(limit int) ([]string, error)) ([]string, bool, error) {
	if n == 0 {
		return []string{}, false, nil
	}
	limit := n
	if n > 0 {
		limit = n + 1
	}
	names, err := list(limit)
	if err != nil {
		return nil, false, wrap(err, "list")
	}
	if n > 0 && len(names) > n {
		return names[:n], true, nil
	}
	return names, false, nil
}

// Referrers returns the OCI index of manifests in repo whose subject is d,
// filtered by artifactType when it is not empty.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (ocispec.Index, error) {
	refs, err := r.meta.Referrers(ctx, repo, d)
	if err != nil {
		return ocispec.Index{}, wrap(err, "list referrers")
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	for _, ref := range refs {
		if artifactType != "" && ref.ArtifactType != artifactType {
			continue
		}
		desc := ocispec.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size, ArtifactType: ref.ArtifactType}
		if len(ref.Annotations) > 0 {
			json.Unmarshal(ref.Annotations, &desc.Annotations)
		}
		idx.Manifests = append(idx.Manifests, desc)
	}
	sort.Slice(idx.Manifests, func(i, j int) bool { return idx.Manifests[i].Digest < idx.Manifests[j].Digest })
	return idx, nil
}

// checkPresentChildren checks each child manifest of an index that the
// repository holds against the index's descriptor of it: same size, same
// media type. A sparse index may leave children out, but one it lists
// wrongly would fail every client that follows it. Content under a digest
// never changes, so checking outside the store's transaction is safe.
func (r *Registry) checkPresentChildren(ctx context.Context, repo string, m *meta.Manifest) error {
	if !isIndexType(m.MediaType) {
		return nil
	}
	var f struct {
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(m.Payload, &f); err != nil {
		return errorf(CodeManifestInvalid, "index is not valid JSON: %v", err)
	}
	for i, c := range f.Manifests {
		child, err := r.meta.GetManifest(ctx, repo, c.Digest)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return wrap(err, "look up child manifest %s", c.Digest)
		}
		if got := int64(len(child.Payload)); got != c.Size {
			return errorf(CodeManifestInvalid, "manifests[%d]: descriptor size %d, but manifest %s has %d bytes", i, c.Size, c.Digest, got)
		}
		if c.MediaType != "" && c.MediaType != child.MediaType {
			return errorf(CodeManifestInvalid, "manifests[%d]: descriptor media type %q, but manifest %s is %q", i, c.MediaType, c.Digest, child.MediaType)
		}
	}
	return nil
}

// requiredChildren are the children of an index that must be present
// whatever the sparse policy: those of RequiredPlatforms
// (validation.manifests.indexes.platformlist). The payload was parsed as
// an index already.
func (r *Registry) requiredChildren(m *meta.Manifest) map[digest.Digest]bool {
	if len(r.opts.RequiredPlatforms) == 0 || !isIndexType(m.MediaType) {
		return nil
	}
	var f struct {
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(m.Payload, &f) != nil {
		return nil
	}
	required := map[digest.Digest]bool{}
	for _, c := range f.Manifests {
		if c.Platform == nil {
			continue
		}
		for _, p := range r.opts.RequiredPlatforms {
			if p.OS == c.Platform.OS && p.Architecture == c.Platform.Architecture {
				required[c.Digest] = true
			}
		}
	}
	return required
}

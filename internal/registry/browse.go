package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// What a browsing client (the web UI) reads: listings whose cost per page
// is a fixed number of queries, whatever the page's length.

// RepoListing is one repository in a listing.
type RepoListing struct {
	Name string
	// Description is the short description (ShortDescription of what
	// RepositoryInfo resolves).
	Description string
	Stars       int
	Tags        int
	LastPush    time.Time
}

// TagSummary is one tag with what its manifest says.
type TagSummary struct {
	Name      string
	Digest    digest.Digest
	MediaType string
	// Index is true for an image index (a multi-platform image).
	Index bool
	// Size is the bytes a pull of one platform fetches at most: config and
	// layers of an image; for an index, its largest child held here.
	Size int64
	// Platforms are "os/arch[/variant]" of the image or of the index's
	// children; empty when unknown (an artifact).
	Platforms []string
	Pushed    time.Time
}

// DeleteEnabled reports whether manifests and tags may be deleted
// (storage.delete.enabled and not read-only).
func (r *Registry) DeleteEnabled() bool { return r.checkDelete() == nil }

// DescribeRepositories returns the listing of each of names that exists,
// in their order: descriptions and stars, tag counts and last pushes, and
// the content descriptions of those without an explicit one, each kind in
// one query for the whole page.
func (r *Registry) DescribeRepositories(ctx context.Context, names []string) ([]RepoListing, error) {
	sums, err := r.meta.RepoSummaries(ctx, names)
	if err != nil {
		return nil, wrap(err, "describe repositories")
	}
	infos, err := r.meta.RepoInfo(ctx, names)
	if err != nil {
		return nil, wrap(err, "describe repositories")
	}
	var undescribed []string
	for _, n := range names {
		if _, ok := sums[n]; ok && infos[n].Description == "" {
			undescribed = append(undescribed, n)
		}
	}
	content, err := r.contentDescriptions(ctx, undescribed)
	if err != nil {
		return nil, err
	}
	out := make([]RepoListing, 0, len(names))
	for _, n := range names {
		sum, ok := sums[n]
		if !ok {
			continue // deleted since it was listed
		}
		desc := infos[n].Description
		if desc == "" {
			desc = content[n]
		}
		out = append(out, RepoListing{Name: n, Description: ShortDescription(desc), Stars: infos[n].Stars,
			Tags: sum.Tags, LastPush: sum.LastPush})
	}
	return out, nil
}

// contentDescriptions resolves contentDescription for many repositories
// in a fixed number of queries: the newest manifests, the children that
// stand for indexes, and the configs kept inline. Only a config in the blob
// store costs a read of its own, once: configs are cached by digest.
func (r *Registry) contentDescriptions(ctx context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	newest, err := r.meta.NewestManifests(ctx, names)
	if err != nil {
		return nil, wrap(err, "newest manifests")
	}
	images := map[string]manifestFields{}
	var children []meta.RepoDigest
	for name, m := range newest {
		var f manifestFields
		if json.Unmarshal(m.Payload, &f) != nil {
			continue
		}
		switch d := f.Annotations[ocispec.AnnotationDescription]; {
		case strings.TrimSpace(d) != "":
			out[name] = d
		case len(f.Manifests) > 0:
			children = append(children, meta.RepoDigest{Repo: name, Digest: pickChild(f.Manifests)})
		default:
			images[name] = f
		}
	}
	kids, err := r.meta.ManifestsOf(ctx, children)
	if err != nil {
		return nil, wrap(err, "child manifests")
	}
	for ref, m := range kids {
		var f manifestFields
		if json.Unmarshal(m.Payload, &f) == nil && len(f.Manifests) == 0 {
			images[ref.Repo] = f
		}
	}
	var refs []configRef
	for name, f := range images {
		if f.Config != nil {
			refs = append(refs, configRef{name, f.Config.Digest})
		}
	}
	cfgs, err := r.readConfigs(ctx, refs)
	if err != nil {
		return nil, err
	}
	for name, f := range images {
		if f.Config == nil {
			continue
		}
		if img, ok := cfgs[f.Config.Digest]; ok {
			if desc := img.Config.Labels[ocispec.AnnotationDescription]; strings.TrimSpace(desc) != "" {
				out[name] = desc
			}
		}
	}
	return out, nil
}

// configRef is an image config and a repository that references it.
type configRef struct {
	repo   string
	digest digest.Digest
}

// readConfigs parses image configs: those kept inline from one query, the
// others read from the blob store through the repository that references
// them. A config that is absent or not JSON is left out.
func (r *Registry) readConfigs(ctx context.Context, refs []configRef) (map[digest.Digest]ocispec.Image, error) {
	out := map[digest.Digest]ocispec.Image{}
	if len(refs) == 0 {
		return out, nil
	}
	var digests []digest.Digest
	for _, c := range refs {
		if img, ok := r.configs.get(c.digest); ok {
			out[c.digest] = img
			continue
		}
		digests = append(digests, c.digest)
	}
	if len(digests) == 0 {
		return out, nil
	}
	inline, err := r.meta.InlineBlobs(ctx, digests)
	if err != nil {
		return nil, wrap(err, "read configs")
	}
	for d, b := range inline {
		var img ocispec.Image
		if json.Unmarshal(b, &img) == nil {
			out[d] = img
			r.configs.put(d, img)
		}
	}
	for _, c := range refs {
		if _, inlined := inline[c.digest]; inlined {
			continue
		}
		if _, done := out[c.digest]; done {
			continue
		}
		img, err := r.ReadImageConfig(ctx, c.repo, c.digest)
		if err != nil {
			return nil, err
		}
		if img != nil {
			out[c.digest] = *img
			r.configs.put(c.digest, *img)
		}
	}
	return out, nil
}

// ReadImageConfig reads and parses the image config d of repo; nil when
// repo does not hold it or it is not a config. It reads what is stored
// only: describing or browsing a cached repository must neither fetch from
// its upstream nor count as a pull.
func (r *Registry) ReadImageConfig(ctx context.Context, repo string, d digest.Digest) (*ocispec.Image, error) {
	c, _, err := r.localOpenBlob(ctx, repo, d)
	if _, ok := AsError(err); ok {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var img ocispec.Image
	if err := json.NewDecoder(io.LimitReader(c, maxConfigSize)).Decode(&img); err != nil {
		r.log.WarnContext(ctx, "image config unreadable", "repo", repo, "digest", d, "error", err)
		return nil, nil
	}
	return &img, nil
}

// TagSummaries lists up to n of repo's tags after last with their digest,
// size, platforms and push time, and whether more follow: one query for
// the tags and their manifests, one for the children of indexes, one for
// the configs kept inline.
func (r *Registry) TagSummaries(ctx context.Context, repo, last string, n int) ([]TagSummary, bool, error) {
	if err := r.requireRepo(ctx, repo); err != nil {
		return nil, false, err
	}
	recs, err := r.meta.TagRecords(ctx, repo, last, n+1)
	if err != nil {
		return nil, false, wrap(err, "list tags")
	}
	more := len(recs) > n
	if more {
		recs = recs[:n]
	}
	parsed := make([]manifestFields, len(recs))
	var children []digest.Digest
	for i, t := range recs {
		_ = json.Unmarshal(t.Payload, &parsed[i]) // stored manifests were parsed when pushed
		for _, c := range parsed[i].Manifests {
			children = append(children, c.Digest)
		}
	}
	kids, err := r.meta.ManifestsByDigest(ctx, repo, children)
	if err != nil {
		return nil, false, wrap(err, "read child manifests")
	}
	kidFields := make(map[digest.Digest]manifestFields, len(kids))
	for d, m := range kids {
		var f manifestFields
		_ = json.Unmarshal(m.Payload, &f)
		kidFields[d] = f
	}
	var refs []configRef
	for _, f := range parsed {
		if len(f.Manifests) == 0 && isImageConfig(f.Config) {
			refs = append(refs, configRef{repo, f.Config.Digest})
		}
	}
	cfgs, err := r.readConfigs(ctx, refs)
	if err != nil {
		return nil, false, err
	}
	out := make([]TagSummary, len(recs))
	for i, t := range recs {
		f := parsed[i]
		s := TagSummary{Name: t.Name, Digest: t.Digest, MediaType: t.MediaType, Pushed: t.Updated, Index: len(f.Manifests) > 0}
		if s.Index {
			for _, c := range f.Manifests {
				if c.Platform != nil {
					s.Platforms = append(s.Platforms, PlatformString(*c.Platform))
				}
				if kf, ok := kidFields[c.Digest]; ok {
					s.Size = max(s.Size, imageSize(kf))
				}
			}
		} else {
			s.Size = imageSize(f)
			if f.Config != nil {
				if img, ok := cfgs[f.Config.Digest]; ok && img.OS != "" {
					s.Platforms = []string{PlatformString(img.Platform)}
				}
			}
		}
		out[i] = s
	}
	return out, more, nil
}

// mediaTypeDockerConfig is the Docker image config's media type.
const mediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"

// isImageConfig reports whether d is an image config (not an artifact's).
func isImageConfig(d *ocispec.Descriptor) bool {
	return d != nil && (d.MediaType == ocispec.MediaTypeImageConfig || d.MediaType == mediaTypeDockerConfig)
}

// imageSize is the config and layers' size of an image manifest.
func imageSize(f manifestFields) int64 {
	var n int64
	if f.Config != nil {
		n += f.Config.Size
	}
	for _, l := range f.Layers {
		n += l.Size
	}
	return n
}

// PlatformString is "os/arch" with "/variant" when there is one.
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// TagsOf lists repo's tags that point at manifest d.
func (r *Registry) TagsOf(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	tags, err := r.meta.TagsOf(ctx, repo, d)
	return tags, wrap(err, "tags of manifest")
}

// manifestReposScan is how many of a manifest's repositories a listing
// reads at most, visible or not: a base image may be in thousands.
const manifestReposScan = 1000

// ManifestRepositories lists up to n of the repositories holding manifest
// d that v may see, and whether there may be more. It reads at most
// manifestReposScan repositories, so a viewer who sees few of very many
// may be shown fewer than exist.
func (r *Registry) ManifestRepositories(ctx context.Context, v Viewer, d digest.Digest, n int) ([]string, bool, error) {
	all, err := r.meta.ManifestRepos(ctx, d, manifestReposScan)
	if err != nil {
		return nil, false, wrap(err, "repositories of manifest")
	}
	out := []string{}
	for _, name := range all {
		if v != nil && !v.SeesAll() && !v.CanSee(name) {
			continue
		}
		if len(out) == n {
			return out, true, nil
		}
		out = append(out, name)
	}
	return out, len(all) == manifestReposScan, nil
}

// StoredSize is what manifest payload of repo stores, each blob counted
// once: an image's config and distinct layers; for an index, those of
// every child repo holds (read in one query), so layers the platforms
// share count once. It also returns how many blobs that is.
func (r *Registry) StoredSize(ctx context.Context, repo string, payload []byte) (int64, int, error) {
	var f manifestFields
	if err := json.Unmarshal(payload, &f); err != nil {
		return 0, 0, fmt.Errorf("parse manifest: %w", err)
	}
	sizes := map[digest.Digest]int64{}
	add := func(f manifestFields) {
		if f.Config != nil {
			sizes[f.Config.Digest] = f.Config.Size
		}
		for _, l := range f.Layers {
			sizes[l.Digest] = l.Size
		}
	}
	add(f)
	if len(f.Manifests) > 0 {
		ds := make([]digest.Digest, len(f.Manifests))
		for i, c := range f.Manifests {
			ds[i] = c.Digest
		}
		kids, err := r.meta.ManifestsByDigest(ctx, repo, ds)
		if err != nil {
			return 0, 0, wrap(err, "read child manifests")
		}
		for _, k := range kids {
			var kf manifestFields
			if json.Unmarshal(k.Payload, &kf) == nil {
				add(kf)
			}
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, len(sizes), nil
}

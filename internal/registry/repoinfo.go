package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// Description limits.
const (
	// SearchDescriptionMax is how many characters of a description search
	// shows, Docker Hub's limit.
	SearchDescriptionMax = 100
	// MaxDescription is the longest description that may be set, in bytes.
	MaxDescription = 4 << 10
	// maxConfigSize bounds an image config read for its labels or a page.
	maxConfigSize = 4 << 20
)

// Where a repository's description came from.
const (
	DescriptionExplicit   = "explicit"
	DescriptionAnnotation = "annotation"
	DescriptionLabel      = "label"
)

// RepositoryInfo is what is known of a repository besides its content.
type RepositoryInfo struct {
	Name string `json:"name"`
	// Description is the full description, resolved as Describe says.
	Description string `json:"description"`
	// ShortDescription is its first line, at most SearchDescriptionMax
	// characters: what search shows.
	ShortDescription string `json:"short_description"`
	// DescriptionSource is DescriptionExplicit, DescriptionAnnotation,
	// DescriptionLabel, or empty when there is no description.
	DescriptionSource string `json:"description_source"`
	// Overview is the Markdown overview, raw: a renderer must sanitize it.
	Overview  string `json:"overview"`
	StarCount int    `json:"star_count"`
}

// RepositoryInfo returns repo's information; NAME_UNKNOWN if repo does not
// exist. The description is, in this order: the one set explicitly; the
// org.opencontainers.image.description annotation of the manifest (or
// index) the newest tag points at; that label in its image config (for an
// index, the config of the child ImageConfig picks).
func (r *Registry) RepositoryInfo(ctx context.Context, repo string) (RepositoryInfo, error) {
	if err := r.requireRepo(ctx, repo); err != nil {
		return RepositoryInfo{}, err
	}
	infos, err := r.meta.RepoInfo(ctx, []string{repo})
	if err != nil {
		return RepositoryInfo{}, wrap(err, "repository information")
	}
	stored := infos[repo]
	out := RepositoryInfo{Name: repo, StarCount: stored.Stars}
	if out.Overview, err = r.meta.RepoOverview(ctx, repo); err != nil {
		return RepositoryInfo{}, wrap(err, "repository overview")
	}
	out.Description, out.DescriptionSource = stored.Description, DescriptionExplicit
	if out.Description == "" {
		if out.Description, out.DescriptionSource, err = r.contentDescription(ctx, repo); err != nil {
			return RepositoryInfo{}, err
		}
	}
	out.ShortDescription = ShortDescription(out.Description)
	return out, nil
}

// contentDescription is the description the newest tagged manifest gives,
// from its annotation or else its config's label.
func (r *Registry) contentDescription(ctx context.Context, repo string) (desc, source string, err error) {
	tag, err := r.meta.NewestTag(ctx, repo)
	if isNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", wrap(err, "newest tag")
	}
	m, err := r.meta.GetTaggedManifest(ctx, repo, tag)
	if isNotFound(err) {
		return "", "", nil // the tag moved or went meanwhile
	}
	if err != nil {
		return "", "", wrap(err, "get manifest")
	}
	return r.describeLoaded(ctx, repo, m)
}

// describedAs is what a manifest says about its repository, and where.
type describedAs struct{ desc, source string }

// describeManifest is manifestDescription of repo's manifest d, remembered
// once it can no longer change, so that pushing more tags of an image
// costs no manifest or config read.
func (r *Registry) describeManifest(ctx context.Context, repo string, d digest.Digest) (desc, source string, err error) {
	key := meta.RepoDigest{Repo: repo, Digest: d}
	if v, ok := r.descs.get(key); ok {
		return v.desc, v.source, nil
	}
	m, err := r.meta.GetManifest(ctx, repo, d)
	if isNotFound(err) {
		return "", "", nil // deleted meanwhile
	}
	if err != nil {
		return "", "", wrap(err, "get manifest")
	}
	return r.describeLoaded(ctx, repo, m)
}

// describeLoaded is manifestDescription of m, from memory when settled
// before, and remembered when settled now.
func (r *Registry) describeLoaded(ctx context.Context, repo string, m *meta.Manifest) (desc, source string, err error) {
	key := meta.RepoDigest{Repo: repo, Digest: m.Digest}
	if v, ok := r.descs.get(key); ok {
		return v.desc, v.source, nil
	}
	desc, source, final, err := r.manifestDescription(ctx, repo, m)
	if err == nil && final {
		r.descs.put(key, describedAs{desc, source})
	}
	return desc, source, err
}

// manifestDescription is the description manifest m of repo gives: its
// annotation, else its image config's label (for an index, that of the
// child ImageConfig picks). final reports that the answer is settled: the
// annotation, or a config that was read. Content a sparse manifest lacks
// may still arrive, and an unreadable config may be repaired, so those
// answers are not.
func (r *Registry) manifestDescription(ctx context.Context, repo string, m *meta.Manifest) (desc, source string, final bool, err error) {
	var f manifestFields
	if err := json.Unmarshal(m.Payload, &f); err != nil {
		return "", "", false, fmt.Errorf("parse manifest %s: %w", m.Digest, err)
	}
	if d := f.Annotations[ocispec.AnnotationDescription]; strings.TrimSpace(d) != "" {
		return d, DescriptionAnnotation, true, nil
	}
	labels, read, err := r.configLabels(ctx, repo, m)
	if err != nil {
		return "", "", false, err
	}
	if d := labels[ocispec.AnnotationDescription]; strings.TrimSpace(d) != "" {
		return d, DescriptionLabel, true, nil
	}
	return "", "", read, nil
}

// configLabels returns the labels of m's image config, and whether that
// config was read; none when m has no config wharf holds (an artifact, a
// sparse index's absent child).
func (r *Registry) configLabels(ctx context.Context, repo string, m *meta.Manifest) (map[string]string, bool, error) {
	cfg, err := r.ImageConfig(ctx, repo, m)
	if err != nil || cfg == "" {
		return nil, false, err
	}
	img, err := r.ReadImageConfig(ctx, repo, cfg)
	if err != nil || img == nil {
		return nil, false, err
	}
	return img.Config.Labels, true, nil
}

// ImageConfig returns the config digest of image m, the id `docker images`
// shows; for an index, that of its linux/amd64 child, else of its first
// child. Empty when there is none in repo (an index whose chosen child is
// absent, an index of indexes).
func (r *Registry) ImageConfig(ctx context.Context, repo string, m *meta.Manifest) (digest.Digest, error) {
	var f manifestFields
	if err := json.Unmarshal(m.Payload, &f); err != nil {
		return "", fmt.Errorf("parse manifest %s: %w", m.Digest, err)
	}
	if len(f.Manifests) == 0 {
		if f.Config == nil {
			return "", nil
		}
		return f.Config.Digest, nil
	}
	child, err := r.meta.GetManifest(ctx, repo, pickChild(f.Manifests))
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", wrap(err, "get child manifest")
	}
	var cf manifestFields
	if err := json.Unmarshal(child.Payload, &cf); err != nil {
		return "", fmt.Errorf("parse manifest %s: %w", child.Digest, err)
	}
	if cf.Config == nil || len(cf.Manifests) > 0 {
		return "", nil
	}
	return cf.Config.Digest, nil
}

// pickChild is the child of an index that stands for it: linux/amd64,
// what most daemons pull, else the first.
func pickChild(children []ocispec.Descriptor) digest.Digest {
	for _, c := range children {
		if p := c.Platform; p != nil && p.OS == "linux" && p.Architecture == "amd64" {
			return c.Digest
		}
	}
	return children[0].Digest
}

// ShortDescription is the first non-empty line of desc, trimmed, at most
// SearchDescriptionMax characters.
func ShortDescription(desc string) string {
	var line string
	for l := range strings.Lines(desc) {
		if line = strings.TrimSpace(l); line != "" {
			break
		}
	}
	if utf8.RuneCountInString(line) <= SearchDescriptionMax {
		return line
	}
	n := 0
	for i := range line {
		if n == SearchDescriptionMax {
			return strings.TrimSpace(line[:i])
		}
		n++
	}
	return line
}

// SetRepositoryInfo sets repo's description and overview; nil fields are
// kept. The repository must exist.
func (r *Registry) SetRepositoryInfo(ctx context.Context, repo string, u meta.RepoInfoUpdate) error {
	if err := r.checkWrite(); err != nil {
		return err
	}
	if u.Description != nil && len(*u.Description) > MaxDescription {
		return errorf(CodeTooLarge, "description: %d bytes, at most %d", len(*u.Description), MaxDescription)
	}
	if u.Overview != nil && len(*u.Overview) > meta.MaxOverview {
		return errorf(CodeTooLarge, "overview: %d bytes, at most %d", len(*u.Overview), meta.MaxOverview)
	}
	if err := r.requireRepo(ctx, repo); err != nil {
		return err
	}
	if err := r.meta.SetRepoInfo(ctx, repo, u); err != nil {
		return wrap(err, "set repository information")
	}
	if u.Description != nil {
		r.refreshSearch(ctx, repo)
	}
	return nil
}

// Star records (on) or removes user's star on repo, which must exist.
func (r *Registry) Star(ctx context.Context, repo, user string, on bool) error {
	if err := r.checkWrite(); err != nil {
		return err
	}
	if err := r.requireRepo(ctx, repo); err != nil {
		return err
	}
	if err := r.meta.Star(ctx, repo, user, on); err != nil {
		return wrap(err, "star repository")
	}
	// The store keeps the count of a recorded repository; one not
	// recorded yet gets its record, count included, now.
	r.refreshSearch(ctx, repo)
	return nil
}

// Starred reports whether user starred repo.
func (r *Registry) Starred(ctx context.Context, repo, user string) (bool, error) {
	ok, err := r.meta.Starred(ctx, repo, user)
	return ok, wrap(err, "read star")
}

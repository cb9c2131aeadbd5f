package ui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/registry"
)

// manifestDoc is what the manifest page reads of a manifest or index.
type manifestDoc struct {
	MediaType    string               `json:"mediaType"`
	ArtifactType string               `json:"artifactType"`
	Config       *ocispec.Descriptor  `json:"config"`
	Layers       []ocispec.Descriptor `json:"layers"`
	Manifests    []ocispec.Descriptor `json:"manifests"`
	Subject      *ocispec.Descriptor  `json:"subject"`
	Annotations  map[string]string    `json:"annotations"`
}

// referrerGroup is the referrers of one artifact type.
type referrerGroup struct {
	ArtifactType string
	Referrers    []ocispec.Descriptor
}

// child is one manifest of an index.
type child struct {
	Desc     ocispec.Descriptor
	Platform string
}

type manifestData struct {
	Repo      string
	Ref       string
	Digest    digest.Digest
	MediaType string
	Size      int64
	Tags      []string
	Doc       manifestDoc
	Index     bool
	Children  []child
	// Config is the image config; nil for an index or an artifact.
	Config     *ocispec.Image
	LayersSize int64
	Referrers  []referrerGroup
	Raw        string
	Host       string
	CanDelete  bool
	// StoredSize is what the manifest stores, each blob once (an index:
	// over all its children), in StoredBlobs blobs.
	StoredSize  int64
	StoredBlobs int
	// SharedWith are other repositories holding this manifest that the
	// visitor may see, at most sharedShown; SharedMore says there are more.
	SharedWith []string
	SharedMore bool
}

// sharedShown is how many other repositories holding a manifest its page
// names.
const sharedShown = 20

// manifest shows one manifest by tag or digest: an index's platforms, an
// image's layers and config, its referrers.
func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, v *visitor, name, ref string) error {
	ctx := r.Context()
	if !registry.IsDigest(ref) && registry.ValidateTag(ref) != nil {
		return errNotFound
	}
	mi, err := h.reg.GetManifest(ctx, name, ref)
	if err != nil {
		return err
	}
	d := manifestData{Repo: name, Ref: ref, Digest: mi.Digest, MediaType: mi.MediaType, Size: int64(len(mi.Payload)),
		Host: r.Host, CanDelete: v.canDelete(name) && h.reg.DeleteEnabled()}
	if err := json.Unmarshal(mi.Payload, &d.Doc); err != nil {
		return err
	}
	d.Raw = indentJSON(mi.Payload)
	if d.Tags, err = h.reg.TagsOf(ctx, name, mi.Digest); err != nil {
		return err
	}
	d.Index = len(d.Doc.Manifests) > 0 || mi.MediaType == ocispec.MediaTypeImageIndex || mi.MediaType == dockerListType
	for _, c := range d.Doc.Manifests {
		ch := child{Desc: c}
		if c.Platform != nil {
			ch.Platform = registry.PlatformString(*c.Platform)
		}
		d.Children = append(d.Children, ch)
	}
	for _, l := range d.Doc.Layers {
		d.LayersSize += l.Size
	}
	if c := d.Doc.Config; c != nil && (c.MediaType == ocispec.MediaTypeImageConfig || c.MediaType == dockerConfigType) {
		if d.Config, err = h.reg.ReadImageConfig(ctx, name, c.Digest); err != nil {
			return err
		}
	}
	refs, err := h.reg.Referrers(ctx, name, mi.Digest, "")
	if err != nil {
		return err
	}
	d.Referrers = groupReferrers(refs.Manifests)
	if d.StoredSize, d.StoredBlobs, err = h.reg.StoredSize(ctx, name, mi.Payload); err != nil {
		return err
	}
	repos, more, err := h.reg.ManifestRepositories(ctx, v.decision, mi.Digest, sharedShown+1)
	if err != nil {
		return err
	}
	// Up to sharedShown+1 were asked for, this repository perhaps among
	// them: one beyond what is shown tells that there are more.
	others := slices.DeleteFunc(repos, func(rp string) bool { return rp == name })
	d.SharedWith, d.SharedMore = others[:min(len(others), sharedShown)], more || len(others) > sharedShown
	return h.render(w, r, v, http.StatusOK, "manifest", name+"@"+ref, d)
}

// dockerConfigType is the Docker image config's media type.
const dockerConfigType = "application/vnd.docker.container.image.v1+json"

// dockerListType is the Docker manifest list's media type.
const dockerListType = "application/vnd.docker.distribution.manifest.list.v2+json"

// groupReferrers groups referrers by artifact type, types in order.
func groupReferrers(refs []ocispec.Descriptor) []referrerGroup {
	byType := map[string][]ocispec.Descriptor{}
	for _, d := range refs {
		byType[d.ArtifactType] = append(byType[d.ArtifactType], d)
	}
	out := make([]referrerGroup, 0, len(byType))
	for t, list := range byType {
		out = append(out, referrerGroup{ArtifactType: t, Referrers: list})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ArtifactType < out[j].ArtifactType })
	return out
}

// indentJSON pretty-prints a manifest for the raw view; the bytes as they
// are when they are not JSON.
func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

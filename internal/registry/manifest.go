package registry

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// Media types wharf accepts as manifests, besides the OCI ones in ocispec.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1      = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1JWS   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// isIndexType reports whether a manifest media type lists other manifests.
func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// isImageType reports whether a manifest media type has config and layers.
func isImageType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// isNonDistributable reports layers that clients fetch from their URLs
// rather than from the registry, so a manifest may name them without the
// registry holding them.
func isNonDistributable(d ocispec.Descriptor) bool {
	switch d.MediaType {
	case mediaTypeDockerForeignLayer,
		ocispec.MediaTypeImageLayerNonDistributable,     //nolint:staticcheck // still in use by Windows images
		ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
		ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck
		return len(d.URLs) > 0
	}
	return false
}

// manifestFields is the union of the fields wharf reads from any manifest
// type; unknown fields are ignored as the spec requires.
type manifestFields struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// parseManifest validates payload as a manifest of mediaType (the request's
// Content-Type, possibly empty) and returns what the metadata store keeps.
func parseManifest(mediaType string, payload []byte, d digest.Digest) (*meta.Manifest, error) {
	var f manifestFields
	if err := json.Unmarshal(payload, &f); err != nil {
		return nil, errorf(CodeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	if err := checkManifestKeys(payload); err != nil {
		return nil, err
	}
	mt, err := resolveMediaType(mediaType, &f)
	if err != nil {
		return nil, err
	}
	if f.SchemaVersion != 2 {
		return nil, errorf(CodeManifestInvalid, "unsupported schemaVersion %d", f.SchemaVersion)
	}
	m := &meta.Manifest{Digest: d, MediaType: mt, Payload: payload, ArtifactType: f.ArtifactType}
	switch {
	case isImageType(mt):
		err = imageRefs(&f, m)
	case isIndexType(mt):
		err = indexRefs(&f, m)
	}
	if err != nil {
		return nil, err
	}
	if f.Subject != nil {
		if err := checkDescriptor(*f.Subject, "subject"); err != nil {
			return nil, err
		}
		m.Subject = f.Subject.Digest
	}
	if len(f.Annotations) > 0 {
		m.Annotations, _ = json.Marshal(f.Annotations)
	}
	return m, nil
}

// resolveMediaType decides the manifest's media type from the Content-Type
// and the mediaType field, which must agree when both are present.
func resolveMediaType(contentType string, f *manifestFields) (string, error) {
	mt := contentType
	if mt == "" || mt == "application/json" || mt == "application/octet-stream" {
		mt = f.MediaType
	}
	if mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1JWS {
		return "", errorf(CodeManifestInvalid, "Docker schema 1 manifests are deprecated and not accepted; push schema 2 or OCI")
	}
	if !isImageType(mt) && !isIndexType(mt) {
		if mt == "" {
			return "", errorf(CodeManifestInvalid, "manifest media type missing: set Content-Type or mediaType")
		}
		return "", errorf(CodeManifestInvalid, "unsupported manifest media type %q", mt)
	}
	if f.MediaType != "" && f.MediaType != mt {
		return "", errorf(CodeManifestInvalid, "mediaType %q does not match Content-Type %q", f.MediaType, mt)
	}
	return mt, nil
}

// imageRefs fills the references of an image manifest: its config and layers.
func imageRefs(f *manifestFields, m *meta.Manifest) error {
	if f.Config == nil {
		return errorf(CodeManifestInvalid, "image manifest has no config")
	}
	if len(f.Manifests) > 0 {
		return errorf(CodeManifestInvalid, "image manifest must not list manifests")
	}
	if err := checkDescriptor(*f.Config, "config"); err != nil {
		return err
	}
	if m.ArtifactType == "" {
		m.ArtifactType = f.Config.MediaType
	}
	m.Refs = append(m.Refs, meta.Ref{Digest: f.Config.Digest, Kind: meta.RefBlob})
	for i, l := range f.Layers {
		if err := checkDescriptor(l, fmt.Sprintf("layers[%d]", i)); err != nil {
			return err
		}
		if isNonDistributable(l) {
			continue
		}
		m.Refs = append(m.Refs, meta.Ref{Digest: l.Digest, Kind: meta.RefBlob})
	}
	m.Refs = dedupe(m.Refs)
	return nil
}

// indexRefs fills the references of an index: its child manifests.
func indexRefs(f *manifestFields, m *meta.Manifest) error {
	if f.Config != nil || len(f.Layers) > 0 {
		return errorf(CodeManifestInvalid, "index must not have config or layers")
	}
	for i, c := range f.Manifests {
		if err := checkDescriptor(c, fmt.Sprintf("manifests[%d]", i)); err != nil {
			return err
		}
		m.Refs = append(m.Refs, meta.Ref{Digest: c.Digest, Kind: meta.RefManifest})
	}
	m.Refs = dedupe(m.Refs)
	return nil
}

func checkDescriptor(d ocispec.Descriptor, where string) error {
	if err := d.Digest.Validate(); err != nil {
		return errorf(CodeManifestInvalid, "%s: invalid digest %q: %v", where, d.Digest, err)
	}
	if d.Size < 0 {
		return errorf(CodeManifestInvalid, "%s: negative size", where)
	}
	return nil
}

func dedupe(refs []meta.Ref) []meta.Ref {
	seen := make(map[digest.Digest]bool, len(refs))
	out := refs[:0]
	for _, r := range refs {
		if !seen[r.Digest] {
			seen[r.Digest] = true
			out = append(out, r)
		}
	}
	return out
}

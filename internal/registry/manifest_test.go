package registry

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

func TestParseManifest(t *testing.T) {
	d1 := "sha256:" + strings.Repeat("1", 64)
	d2 := "sha256:" + strings.Repeat("2", 64)
	d3 := "sha256:" + strings.Repeat("3", 64)
	oci := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d1 + `","size":10},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d2 + `","size":20},` +
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d2 + `","size":20}]}`
	artifact := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x.sig",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + d1 + `","size":2},"layers":[],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d3 + `","size":5},` +
		`"annotations":{"k":"v"}}`
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d1 + `","size":3}]}`
	foreign := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + d1 + `","size":10},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"` + d2 + `","size":20,"urls":["https://example.invalid/x"]}]}`

	tests := []struct {
		name        string
		contentType string
		body        string
		wantCode    Code
		wantType    string
		wantArt     string
		wantSubject string
		wantRefs    []meta.Ref
	}{
		{name: "oci image", contentType: "application/vnd.oci.image.manifest.v1+json", body: oci,
			wantType: "application/vnd.oci.image.manifest.v1+json", wantArt: "application/vnd.oci.image.config.v1+json",
			wantRefs: []meta.Ref{{Digest: digest.Digest(d1), Kind: meta.RefBlob}, {Digest: digest.Digest(d2), Kind: meta.RefBlob}}},
		{name: "type from body when no content type", body: oci, wantType: "application/vnd.oci.image.manifest.v1+json",
			wantArt:  "application/vnd.oci.image.config.v1+json",
			wantRefs: []meta.Ref{{Digest: digest.Digest(d1), Kind: meta.RefBlob}, {Digest: digest.Digest(d2), Kind: meta.RefBlob}}},
		{name: "artifact with subject", contentType: "application/vnd.oci.image.manifest.v1+json", body: artifact,
			wantType: "application/vnd.oci.image.manifest.v1+json", wantArt: "application/x.sig", wantSubject: d3,
			wantRefs: []meta.Ref{{Digest: digest.Digest(d1), Kind: meta.RefBlob}}},
		{name: "index", contentType: "application/vnd.oci.image.index.v1+json", body: index,
			wantType: "application/vnd.oci.image.index.v1+json",
			wantRefs: []meta.Ref{{Digest: digest.Digest(d1), Kind: meta.RefManifest}}},
		{name: "foreign layer not required", contentType: MediaTypeDockerManifest, body: foreign,
			wantType: MediaTypeDockerManifest, wantArt: "application/vnd.docker.container.image.v1+json",
			wantRefs: []meta.Ref{{Digest: digest.Digest(d1), Kind: meta.RefBlob}}},
		{name: "broken json", contentType: "application/vnd.oci.image.manifest.v1+json", body: `{"schemaVersion":`, wantCode: CodeManifestInvalid},
		{name: "type mismatch", contentType: "application/vnd.oci.image.index.v1+json", body: oci, wantCode: CodeManifestInvalid},
		{name: "unknown type", contentType: "text/plain", body: `{"schemaVersion":2}`, wantCode: CodeManifestInvalid},
		{name: "no type at all", body: `{"schemaVersion":2}`, wantCode: CodeManifestInvalid},
		{name: "schema1", contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws", body: `{"schemaVersion":1}`, wantCode: CodeManifestInvalid},
		{name: "wrong schemaVersion", contentType: "application/vnd.oci.image.manifest.v1+json",
			body: strings.Replace(oci, `"schemaVersion":2`, `"schemaVersion":3`, 1), wantCode: CodeManifestInvalid},
		{name: "image without config", contentType: "application/vnd.oci.image.manifest.v1+json",
			body: `{"schemaVersion":2,"layers":[]}`, wantCode: CodeManifestInvalid},
		{name: "bad layer digest", contentType: "application/vnd.oci.image.manifest.v1+json",
			body: strings.Replace(oci, d2, "sha256:nothex", 1), wantCode: CodeManifestInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseManifest(tt.contentType, []byte(tt.body), digest.FromString(tt.body))
			if tt.wantCode != "" {
				e, ok := AsError(err)
				if !ok || e.Code != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if m.MediaType != tt.wantType || m.ArtifactType != tt.wantArt || string(m.Subject) != tt.wantSubject {
				t.Errorf("got type %q art %q subject %q", m.MediaType, m.ArtifactType, m.Subject)
			}
			if len(m.Refs) != len(tt.wantRefs) {
				t.Fatalf("refs = %v, want %v", m.Refs, tt.wantRefs)
			}
			for i := range m.Refs {
				if m.Refs[i] != tt.wantRefs[i] {
					t.Errorf("ref %d = %v, want %v", i, m.Refs[i], tt.wantRefs[i])
				}
			}
		})
	}
}

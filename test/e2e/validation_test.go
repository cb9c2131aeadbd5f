package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// foreignManifest is a Windows-style image: a config pushed to the
// registry and a foreign layer that clients fetch from url.
func foreignManifest(t *testing.T, s *Server, repo, url string) []byte {
	t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":["%s"]}}`, digest.FromString(url)))
	cd := whUploadBlob(t, s, repo, cfg)
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"%s","size":1000,"urls":[%q]}]}`,
		cd, len(cfg), digest.FromString("foreign "+url), url))
}

// TestValidationManifestURLs: a manifest whose layers name URLs is refused
// when validation.manifests.urls does not allow them (or denies them), as
// with registry:2; without an allow list any http or https URL is taken
// (registry:2 would refuse all), and validation.disabled turns the check
// off.
func TestValidationManifestURLs(t *testing.T) {
	const mt = "application/vnd.docker.distribution.manifest.v2+json"
	const cdn, www, elsewhere = "https://cdn.example.com/layer", "https://www.example.com/layer", "https://elsewhere.test/layer"
	tests := []struct {
		name   string
		config string
		url    string
		ok     bool
	}{
		{"default takes https URLs", "", cdn, true},
		{"default refuses other schemes", "", "file:///etc/passwd", false},
		{"allowed", "validation:\n  manifests:\n    urls:\n      allow: ['^https?://([^/]+\\.)*example\\.com/']\n", cdn, true},
		{"not allowed", "validation:\n  manifests:\n    urls:\n      allow: ['^https?://([^/]+\\.)*example\\.com/']\n", elsewhere, false},
		{"allowed but denied", "validation:\n  manifests:\n    urls:\n      allow: ['^https?://([^/]+\\.)*example\\.com/']\n      deny: ['^https?://www\\.example\\.com/']\n", www, false},
		{"validation disabled", "validation:\n  disabled: true\n", elsewhere, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tt.config})
			r := whPutManifest(t, s, "win/app", "v1", mt, foreignManifest(t, s, "win/app", tt.url))
			if tt.ok {
				if r.Status != http.StatusCreated {
					t.Fatalf("PUT: %s, want 201", r)
				}
				return
			}
			whExpectError(t, "manifest with layer URL "+tt.url, r, http.StatusBadRequest, "MANIFEST_INVALID")
		})
	}
}

package e2e

// Seed 002 (a registry:2 how-to) shows the curl calls users make against a
// fresh registry: catalog, tags list, manifest with the docker Accept
// header, blob download checked with sha256sum, soft delete by digest. This
// test replays them over plain net/http and checks the exact answers the
// post shows.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const seedDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

func TestSeed002CurlFlow(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	get := func(t *testing.T, path string, hdr map[string]string) whResp {
		t.Helper()
		r := whDo(t, http.MethodGet, s.URL+path, hdr, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %s, want 200%s", path, r, whLogIf5xx(s, r))
		}
		return r
	}

	// curl http://localhost/v2/_catalog  ->  {"repositories":[]}
	r := get(t, "/v2/_catalog", nil)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("catalog: %v: %s", err, r)
	}
	if string(raw["repositories"]) != "[]" {
		t.Errorf("empty catalog: %s, want {\"repositories\":[]}", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("catalog Content-Type %q, want application/json", ct)
	}

	// docker push localhost/library/hello-world (a docker schema2 image).
	img := whRandomImage(t, 974, 1)
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.DockerManifestSchema2), types.DockerConfigJSON)
	pushed := whPush(t, s, "library/hello-world:latest", img)

	// {"repositories":["library/hello-world"]}
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	r = get(t, "/v2/_catalog", nil)
	if err := json.Unmarshal(r.Body, &cat); err != nil || !slices.Equal(cat.Repositories, []string{"library/hello-world"}) {
		t.Errorf("catalog after push: %s (%v)", r.Body, err)
	}

	// {"name":"library/hello-world","tags":["latest"]}
	var tags struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	r = get(t, "/v2/library/hello-world/tags/list", nil)
	if err := json.Unmarshal(r.Body, &tags); err != nil || tags.Name != "library/hello-world" || !slices.Equal(tags.Tags, []string{"latest"}) {
		t.Errorf("tags list: %s (%v)", r.Body, err)
	}

	// curl -i -H "Accept: ...manifest.v2+json" .../manifests/latest
	r = get(t, "/v2/library/hello-world/manifests/latest", map[string]string{"Accept": seedDockerManifest})
	bodyDigest := whDigest(r.Body)
	checks := []struct{ header, want string }{
		{"Content-Type", seedDockerManifest},
		{"Docker-Content-Digest", bodyDigest},
		{"Etag", `"` + bodyDigest + `"`},
		{"Docker-Distribution-Api-Version", "registry/2.0"},
	}
	for _, c := range checks {
		if got := r.Header.Get(c.header); got != c.want {
			t.Errorf("manifest header %s: %q, want %q", c.header, got, c.want)
		}
	}
	if bodyDigest != pushed.String() {
		t.Errorf("manifest body hashes to %s, pushed %s", bodyDigest, pushed)
	}
	var m struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
			Digest    string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.SchemaVersion != 2 || m.MediaType != seedDockerManifest ||
		m.Config.MediaType != "application/vnd.docker.container.image.v1+json" || len(m.Layers) != 1 {
		t.Errorf("manifest content: %s", r.Body)
	}

	// curl .../blobs/<digest> -o hello-world.blob; sha256sum hello-world.blob
	blobs := []struct {
		digest string
		size   int64
	}{{m.Config.Digest, m.Config.Size}}
	for _, l := range m.Layers {
		blobs = append(blobs, struct {
			digest string
			size   int64
		}{l.Digest, l.Size})
	}
	for _, b := range blobs {
		if err := whCheckBlob(t, s, "library/hello-world", b.digest, b.size); err != nil {
			t.Error(err)
		}
	}

	// curl -X DELETE .../manifests/<Docker-Content-Digest>  ->  202
	r = whDo(t, http.MethodDelete, s.URL+"/v2/library/hello-world/manifests/"+bodyDigest, nil, nil)
	if r.Status != http.StatusAccepted {
		// Go on: what follows shows whether the delete happened anyway.
		t.Errorf("DELETE manifest: %s, want 202%s", r, whLogIf5xx(s, r))
	}
	if v := r.Header.Get("Docker-Distribution-Api-Version"); v != "registry/2.0" {
		t.Errorf("DELETE: Docker-Distribution-Api-Version %q", v)
	}

	// {"name":"library/hello-world","tags":null}: the repository is still
	// there, it just has no tags; null and [] both mean none.
	r = get(t, "/v2/library/hello-world/tags/list", nil)
	tags.Tags = nil
	if err := json.Unmarshal(r.Body, &tags); err != nil || tags.Name != "library/hello-world" || len(tags.Tags) != 0 {
		t.Errorf("tags list after delete: %s (%v)", r.Body, err)
	}
	// And the manifest is gone by tag and by digest.
	for _, ref := range []string{"latest", bodyDigest} {
		r = whDo(t, http.MethodGet, s.URL+"/v2/library/hello-world/manifests/"+ref,
			map[string]string{"Accept": seedDockerManifest}, nil)
		whExpectError(t, "GET deleted manifest "+ref, r, http.StatusNotFound, "MANIFEST_UNKNOWN")
	}
	// Deleting it again: it is unknown now.
	r = whDo(t, http.MethodDelete, s.URL+"/v2/library/hello-world/manifests/"+bodyDigest, nil, nil)
	whExpectError(t, "second DELETE", r, http.StatusNotFound, "MANIFEST_UNKNOWN")
}

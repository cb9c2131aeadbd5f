package e2e

// Read-only mode (storage.maintenance.readonly.enabled): every write is
// refused with 405 UNSUPPORTED saying the registry is read-only, every read
// is served, the collector stays still, and garbage-collect refuses to run
// except as a dry run. Helpers here start with "ro".

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestReadOnly(t *testing.T) {
	// Content pushed while writable: an image, a referrer of it, a second
	// image deleted by digest (its blobs are garbage the collector has not
	// taken yet), and an upload session in progress.
	rw := StartServer(t, ServerOptions{})
	const repo = "ro/app"
	img := gcMustImage(t, gcLayers(t, 2, 4000), "ro")
	imgDg := whPush(t, rw, repo+":v1", img).String()
	raw, _ := img.RawManifest()
	sbom, sbomLayer := gcArtifact(t, rw, repo, "application/vnd.example.sbom.v1", "sbom",
		gcDesc(string(types.OCIManifestSchema1), imgDg, len(raw)))
	gone := gcMustImage(t, gcLayers(t, 1, 3000), "gone")
	goneDg := whPush(t, rw, "ro/gone:v1", gone).String()
	if r := gcDelete(t, rw, "ro/gone/manifests/"+goneDg); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE: %s", r)
	}
	goneBlobs := gcMinus(gcMustBlobs(t, gone), gcMustBlobs(t, img))

	loc := whStartUpload(t, rw, repo)
	part := whRandBytes(7, 1000)
	r := whDo(t, http.MethodPatch, loc, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Range": "0-999",
	}, part)
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH: %s", r)
	}
	locURL, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	uploadPath := locURL.RequestURI() // path and query, for the next server
	m, _ := img.Manifest()
	layer := m.Layers[0].Digest.String()
	mt, _ := img.MediaType()
	rw.Stop()

	s := StartServer(t, ServerOptions{Root: rw.Root, ReadOnly: true})
	before := gcStoredBlobs(t, s.Root)
	withQuery := func(p, k, v string) string { return whWithQuery(s.URL+p, k, v) }
	newBlob := []byte("a blob nobody may push")
	writes := []struct {
		name   string
		method string
		url    string
		hdr    map[string]string
		body   []byte
	}{
		{"start upload", http.MethodPost, s.URL + "/v2/" + repo + "/blobs/uploads/", nil, nil},
		{"start upload in a new repository", http.MethodPost, s.URL + "/v2/ro/new/blobs/uploads/", nil, nil},
		{"monolithic upload", http.MethodPost, withQuery("/v2/"+repo+"/blobs/uploads/", "digest", whDigest(newBlob)),
			map[string]string{"Content-Type": "application/octet-stream"}, newBlob},
		{"cross-repository mount", http.MethodPost,
			s.URL + "/v2/ro/other/blobs/uploads/?mount=" + url.QueryEscape(layer) + "&from=" + url.QueryEscape(repo), nil, nil},
		{"anonymous mount", http.MethodPost, withQuery("/v2/ro/other/blobs/uploads/", "mount", layer), nil, nil},
		{"PATCH upload chunk", http.MethodPatch, s.URL + uploadPath,
			map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "1000-1009"}, whRandBytes(8, 10)},
		{"PUT upload (finish)", http.MethodPut, whWithQuery(s.URL+uploadPath, "digest", whDigest(part)),
			map[string]string{"Content-Type": "application/octet-stream"}, []byte{}},
		{"DELETE upload (cancel)", http.MethodDelete, s.URL + uploadPath, nil, nil},
		{"PUT manifest by tag", http.MethodPut, s.URL + "/v2/" + repo + "/manifests/v2",
			map[string]string{"Content-Type": string(mt)}, raw},
		{"PUT manifest by digest", http.MethodPut, s.URL + "/v2/" + repo + "/manifests/" + imgDg,
			map[string]string{"Content-Type": string(mt)}, raw},
		{"PUT manifest in a new repository", http.MethodPut, s.URL + "/v2/ro/new/manifests/v1",
			map[string]string{"Content-Type": string(mt)}, raw},
		{"DELETE manifest by tag", http.MethodDelete, s.URL + "/v2/" + repo + "/manifests/v1", nil, nil},
		{"DELETE manifest by digest", http.MethodDelete, s.URL + "/v2/" + repo + "/manifests/" + imgDg, nil, nil},
		{"DELETE referrer", http.MethodDelete, s.URL + "/v2/" + repo + "/manifests/" + sbom, nil, nil},
		{"DELETE blob", http.MethodDelete, s.URL + "/v2/" + repo + "/blobs/" + layer, nil, nil},
	}
	for _, w := range writes {
		t.Run("write/"+w.name, func(t *testing.T) {
			r := whDo(t, w.method, w.url, w.hdr, w.body)
			whExpectError(t, w.method+" "+w.name, r, http.StatusMethodNotAllowed, "UNSUPPORTED")
			var e whOCIErrors
			if err := json.Unmarshal(r.Body, &e); err != nil || len(e.Errors) == 0 ||
				!strings.Contains(strings.ToLower(e.Errors[0].Message), "read-only") {
				t.Errorf("%s: message does not say the registry is read-only: %s", w.name, r)
			}
		})
	}
	t.Run("ggcr push fails", func(t *testing.T) {
		other := gcMustImage(t, gcLayers(t, 1, 1000), "other")
		if err := remote.Write(whRef(t, s, "ro/new:v1"), other, whRemote(t)...); err == nil {
			t.Errorf("push to a read-only registry succeeded")
		}
	})

	// Reads, after the refused writes: everything is as it was.
	t.Run("read/base", func(t *testing.T) {
		if r := whDo(t, http.MethodGet, s.URL+"/v2/", nil, nil); r.Status != http.StatusOK {
			t.Errorf("GET /v2/: %s", r)
		}
	})
	t.Run("read/image by tag and digest", func(t *testing.T) {
		whVerifyImage(t, s, repo+":v1", img)
		whVerifyImage(t, s, repo+"@"+imgDg, img)
	})
	t.Run("read/HEAD manifest", func(t *testing.T) {
		for _, ref := range []string{"v1", imgDg} {
			r := whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/manifests/"+ref, map[string]string{"Accept": string(mt)}, nil)
			if r.Status != http.StatusOK || r.Header.Get("Docker-Content-Digest") != imgDg ||
				r.Header.Get("Content-Length") != strconv.Itoa(len(raw)) {
				t.Errorf("HEAD manifest %s: %d digest %q length %q, want 200 %s %d", ref, r.Status,
					r.Header.Get("Docker-Content-Digest"), r.Header.Get("Content-Length"), imgDg, len(raw))
			}
		}
	})
	t.Run("read/blobs GET and HEAD", func(t *testing.T) {
		for d, size := range gcMustBlobs(t, img) {
			if err := whCheckBlob(t, s, repo, d, size); err != nil {
				t.Error(err)
			}
		}
		if err := whCheckBlob(t, s, repo, sbomLayer, 4); err != nil {
			t.Error(err)
		}
	})
	t.Run("read/ranged blob", func(t *testing.T) {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/blobs/"+sbomLayer, map[string]string{"Range": "bytes=1-2"}, nil)
		if r.Status != http.StatusPartialContent || string(r.Body) != "bo" {
			t.Errorf("ranged GET: %s, want 206 \"bo\"", r)
		}
	})
	t.Run("read/tags", func(t *testing.T) {
		if got := retTags(t, s, repo); !slices.Equal(got, []string{"v1"}) {
			t.Errorf("tags %v, want [v1]", got)
		}
	})
	t.Run("read/catalog", func(t *testing.T) {
		r := whDo(t, http.MethodGet, s.URL+"/v2/_catalog", nil, nil)
		var cat struct {
			Repositories []string `json:"repositories"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &cat) != nil {
			t.Fatalf("catalog: %s", r)
		}
		if !slices.Contains(cat.Repositories, repo) || slices.Contains(cat.Repositories, "ro/new") ||
			slices.Contains(cat.Repositories, "ro/other") {
			t.Errorf("catalog %v: want %s and no repository created by a refused write", cat.Repositories, repo)
		}
	})
	t.Run("read/referrers", func(t *testing.T) {
		if got := gcReferrers(t, s, repo, imgDg); !slices.Equal(got, []string{sbom}) {
			t.Errorf("referrers %v, want [%s]", got, sbom)
		}
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+sbom, map[string]string{"Accept": string(types.OCIManifestSchema1)}, nil)
		if r.Status != http.StatusOK || whDigest(r.Body) != sbom {
			t.Errorf("GET referrer manifest: %s", r)
		}
	})
	t.Run("read/upload status", func(t *testing.T) {
		r := whDo(t, http.MethodGet, s.URL+uploadPath, nil, nil)
		if r.Status != http.StatusNoContent || r.Header.Get("Range") != "0-999" {
			t.Errorf("GET upload status: %d Range %q, want 204 0-999", r.Status, r.Header.Get("Range"))
		}
	})
	t.Run("blob store unchanged; no collection in read-only mode", func(t *testing.T) {
		after := gcStoredBlobs(t, s.Root)
		if !maps2Equal(before, after) {
			t.Errorf("blob files changed: before %v, after %v", gcSortedKeys(before), gcSortedKeys(after))
		}
		for d := range goneBlobs {
			if _, ok := after[d]; !ok {
				t.Errorf("blob %s of the deleted image was collected while read-only", d)
			}
		}
	})

	t.Run("garbage-collect refuses, dry run works", func(t *testing.T) {
		out, errOut, code := runWharf(t, nil, "garbage-collect", s.Config)
		if code != 1 || !strings.Contains(errOut, "read-only") {
			t.Errorf("garbage-collect on a read-only config: exit %d, stderr %q, want 1 and a read-only message\nstdout: %s", code, errOut, out)
		}
		if after := gcStoredBlobs(t, s.Root); !maps2Equal(before, after) {
			t.Errorf("refused garbage-collect changed the blob store")
		}
		dry := gcRun(t, s, "--dry-run")
		if dry.Summary.Verb != "would remove" {
			t.Errorf("dry run: %s", dry.Raw)
		}
		if got := gcSortedKeys(dry.Blobs); !slices.Equal(got, gcSortedKeys(goneBlobs)) {
			t.Errorf("dry run lists blobs %v, want the deleted image's %v", got, gcSortedKeys(goneBlobs))
		}
		if after := gcStoredBlobs(t, s.Root); !maps2Equal(before, after) {
			t.Errorf("dry run changed the blob store")
		}
		whVerifyImage(t, s, repo+":v1", img)
	})
}

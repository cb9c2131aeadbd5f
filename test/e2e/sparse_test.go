package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sparseIndex is an OCI index over the given images (linux/amd64,
// linux/arm64, ... in order), in its exact bytes.
func sparseIndex(t *testing.T, imgs ...v1.Image) []byte {
	t.Helper()
	archs := []string{"amd64", "arm64", "s390x"}
	var children []string
	for i, img := range imgs {
		raw, err := img.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		mt, err := img.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, fmt.Sprintf(
			`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"os":"linux","architecture":%q}}`,
			mt, whDigest(raw), len(raw), archs[i]))
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		strings.Join(children, ",") + `]}`)
}

// sparseImage is a random image of the given layers.
func sparseImage(t *testing.T, size, layers int64) (v1.Image, []byte, string) {
	t.Helper()
	img := whRandomImage(t, size, layers)
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return img, raw, string(mt)
}

// sparseReadAll reads and closes rc.
func sparseReadAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sparsePushByDigest pushes img (blobs and manifest) by digest only: no tag
// keeps it.
func sparsePushByDigest(t *testing.T, s *Server, repo string, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	whPush(t, s, repo+"@"+d.String(), img)
	return d.String()
}

// sparseScrub runs `wharf scrub` and requires a clean result.
func sparseScrub(t *testing.T, s *Server) string {
	t.Helper()
	out, errOut, code := runWharf(t, nil, "scrub", s.Config)
	if code != 0 || !strings.Contains(out, " 0 problems") {
		t.Fatalf("scrub: exit %d\n%s%s", code, out, errOut)
	}
	return out
}

// TestSparseIndex pushes an index of which only one platform was pushed
// (what a mirror of one platform produces): it is accepted, served, and
// keeps its present child through garbage collection; scrub counts the
// missing child as sparse, not as damage; the referrers of the missing
// child are an empty list. The other child, pushed later by digest alone,
// is protected by the index from its arrival; deleting the index lets the
// collector take both.
func TestSparseIndex(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "sparse/multi"
	amd64, _, _ := sparseImage(t, 3000, 2)
	arm64, arm64Raw, _ := sparseImage(t, 3000, 2)
	amd64Digest := sparsePushByDigest(t, s, repo, amd64)
	arm64Digest := whDigest(arm64Raw)
	idx := sparseIndex(t, amd64, arm64)
	idxDigest := whDigest(idx)

	r := whPutManifest(t, s, repo, "latest", string(types.OCIImageIndex), idx)
	if r.Status != http.StatusCreated || r.Header.Get("Docker-Content-Digest") != idxDigest {
		t.Fatalf("PUT sparse index: %s", r)
	}
	g := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/latest", nil, nil)
	if g.Status != http.StatusOK || string(g.Body) != string(idx) {
		t.Fatalf("GET sparse index by tag: %s", g)
	}
	if g := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/manifests/"+arm64Digest, nil, nil); g.Status != http.StatusNotFound {
		t.Errorf("GET the missing child: %s, want 404", g)
	}
	ref := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/referrers/"+arm64Digest, nil, nil)
	var refIdx struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	if ref.Status != http.StatusOK || json.Unmarshal(ref.Body, &refIdx) != nil || len(refIdx.Manifests) != 0 {
		t.Errorf("referrers of the missing child: %s, want 200 with an empty list", ref)
	}

	// The present child is kept by the index alone.
	gcRun(t, s, "--grace", "0s", "--delete-untagged")
	whVerifyImage(t, s, repo+"@"+amd64Digest, amd64)
	if out := sparseScrub(t, s); !strings.Contains(out, "sparse: 1 references") {
		t.Errorf("scrub does not count the missing child as sparse:\n%s", out)
	}

	// The missing child arrives later, untagged: the index keeps it.
	sparsePushByDigest(t, s, repo, arm64)
	gcRun(t, s, "--grace", "0s", "--delete-untagged")
	whVerifyImage(t, s, repo+"@"+arm64Digest, arm64)
	whVerifyImage(t, s, repo+"@"+amd64Digest, amd64)
	if out := sparseScrub(t, s); strings.Contains(out, "sparse:") {
		t.Errorf("scrub still counts a child that arrived as sparse:\n%s", out)
	}
	if _, err := remote.Index(whRef(t, s, repo+":latest"), whRemote(t)...); err != nil {
		t.Errorf("pull the completed index: %v", err)
	}

	// Without the index, both children go.
	if d := gcDelete(t, s, repo+"/manifests/"+idxDigest); d.Status != http.StatusAccepted {
		t.Fatalf("DELETE index: %s", d)
	}
	out := gcRun(t, s, "--grace", "0s", "--delete-untagged")
	for _, d := range []string{amd64Digest, arm64Digest} {
		if !strings.Contains(out.Raw, "manifest "+repo+"@"+d) {
			t.Errorf("garbage-collect did not remove child %s once the index was gone:\n%s", d, out.Raw)
		}
	}
	sparseScrub(t, s)
}

// TestSparseImage pushes an image manifest whose last layer was never
// pushed, under validation.manifests.sparse: all; the layer pushed
// afterwards is kept by the manifest through garbage collection, and the
// image then pulls whole. Under the default policy the same push is
// refused: an image missing a layer cannot be pulled.
func TestSparseImage(t *testing.T) {
	def := StartServer(t, ServerOptions{})
	{
		const repo = "sparse/image"
		_, raw, mt := sparseImage(t, 4*inlineMax, 2)
		r := whPutManifest(t, def, repo, "v1", mt, raw)
		whExpectError(t, "image without its blobs under the default policy", r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	}
	s := StartServer(t, ServerOptions{ExtraConfig: "validation:\n  manifests:\n    sparse: all\n"})
	const repo = "sparse/image"
	img, raw, mt := sparseImage(t, 4*inlineMax, 2)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.RawConfigFile()
	whUploadBlob(t, s, repo, cfg)
	first, _ := layers[0].Compressed()
	firstBytes := sparseReadAll(t, first)
	whUploadBlob(t, s, repo, firstBytes)
	if r := whPutManifest(t, s, repo, "v1", mt, raw); r.Status != http.StatusCreated {
		t.Fatalf("PUT sparse image: %s", r)
	}
	gcRun(t, s, "--grace", "0s", "--delete-untagged")
	sparseScrub(t, s)

	last, _ := layers[1].Compressed()
	whUploadBlob(t, s, repo, sparseReadAll(t, last))
	gcRun(t, s, "--grace", "0s", "--delete-untagged")
	whVerifyImage(t, s, repo+":v1", img)
	if out := sparseScrub(t, s); strings.Contains(out, "sparse:") {
		t.Errorf("scrub still counts the layer that arrived as sparse:\n%s", out)
	}
}

// TestSparseRefused: with validation.manifests.sparse none, every
// reference must be present, as before sparse manifests were accepted.
func TestSparseRefused(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: "validation:\n  manifests:\n    sparse: none\n"})
	const repo = "strict/multi"
	amd64, _, _ := sparseImage(t, 3000, 1)
	arm64, _, _ := sparseImage(t, 3000, 1)
	sparsePushByDigest(t, s, repo, amd64)
	idx := sparseIndex(t, amd64, arm64)
	r := whPutManifest(t, s, repo, "latest", string(types.OCIImageIndex), idx)
	whExpectError(t, "sparse index under sparse: none", r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")

	_, raw, mt := sparseImage(t, 3000, 1)
	r = whPutManifest(t, s, repo, "image", mt, raw)
	whExpectError(t, "image without its blobs under sparse: none", r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")

	sparsePushByDigest(t, s, repo, arm64)
	if r := whPutManifest(t, s, repo, "latest", string(types.OCIImageIndex), idx); r.Status != http.StatusCreated {
		t.Fatalf("PUT complete index under sparse: none: %s", r)
	}
}

// TestSparseNotLost: an image deleted and collected, pushed again as its
// manifest alone (a client that skipped blobs it believed present), is
// refused with MANIFEST_BLOB_UNKNOWN where the repository just lost them,
// and accepted as sparse where it never had them (under sparse: all, the
// policy that lets images miss blobs at all).
func TestSparseNotLost(t *testing.T) {
	s := StartServer(t, ServerOptions{ExtraConfig: "validation:\n  manifests:\n    sparse: all\n"})
	img, raw, mt := sparseImage(t, 4*inlineMax, 2)
	d := whPush(t, s, "lost/app:v1", img)
	if r := gcDelete(t, s, "lost/app/manifests/"+d.String()); r.Status != http.StatusAccepted {
		t.Fatalf("DELETE: %s", r)
	}
	if out := gcRun(t, s, "--grace", "0s"); out.Summary.Blobs == 0 {
		t.Fatalf("garbage-collect freed nothing after the delete:\n%s", out.Raw)
	}
	r := whPutManifest(t, s, "lost/app", "v1", mt, raw)
	whExpectError(t, "manifest alone where its blobs were just collected", r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	if r := whPutManifest(t, s, "lost/elsewhere", "v1", mt, raw); r.Status != http.StatusCreated {
		t.Errorf("manifest alone where its blobs never were: %s, want 201 (sparse)", r)
	}
	whPush(t, s, "lost/app:v1", img)
	whVerifyImage(t, s, "lost/app:v1", img)
	sparseScrub(t, s)
}

// TestSparseIndexPlatforms: distribution v3's
// validation.manifests.indexes.platforms decides which children an index
// must hold: all of them, none, or those of the listed platforms.
func TestSparseIndexPlatforms(t *testing.T) {
	const listAmd64 = "validation:\n  manifests:\n    indexes:\n      platforms: List\n      platformlist:\n        - os: linux\n          architecture: amd64\n"
	tests := []struct {
		name       string
		config     string
		pushAmd64  bool // else arm64 is the child pushed
		wantStatus int
	}{
		{"all, arm64 missing", "validation:\n  manifests:\n    indexes:\n      platforms: all\n", true, http.StatusBadRequest},
		{"none, arm64 missing", "validation:\n  manifests:\n    indexes:\n      platforms: none\n", true, http.StatusCreated},
		{"list amd64, arm64 missing", listAmd64, true, http.StatusCreated},
		{"list amd64, amd64 missing", listAmd64, false, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartServer(t, ServerOptions{ExtraConfig: tt.config})
			const repo = "platforms/multi"
			amd64, _, _ := sparseImage(t, 3000, 1)
			arm64, _, _ := sparseImage(t, 3000, 1)
			if tt.pushAmd64 {
				sparsePushByDigest(t, s, repo, amd64)
			} else {
				sparsePushByDigest(t, s, repo, arm64)
			}
			r := whPutManifest(t, s, repo, "latest", string(types.OCIImageIndex), sparseIndex(t, amd64, arm64))
			if tt.wantStatus == http.StatusBadRequest {
				whExpectError(t, tt.name, r, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
			} else if r.Status != tt.wantStatus {
				t.Fatalf("PUT index: %s, want %d", r, tt.wantStatus)
			}
		})
	}
}

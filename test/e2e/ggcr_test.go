package e2e

// Tests that drive wharf with go-containerregistry's remote package, the
// client library crane, ko and many CI tools are built on, plus raw HTTP
// where the behaviour under test is below what the client exposes.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestGGCRPushPullImage pushes random multi-layer images by tag and pulls
// them back, comparing manifest digest and bytes, config and every layer.
func TestGGCRPushPullImage(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	cases := []struct {
		name   string
		ref    string
		img    v1.Image
		layers int
	}{
		{"docker schema2, 4 layers", "ggcr/docker:v1", whRandomImage(t, 4096, 4), 4},
		{"oci, 3 layers", "ggcr/oci:v1", whRandomOCIImage(t, 8192, 3), 3},
		{"one empty-ish layer", "ggcr/tiny:latest", whRandomImage(t, 1, 1), 1},
		{"nested repo name", "a/b/c/d/e:1.0.0-rc.1", whRandomImage(t, 1024, 2), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whPush(t, s, c.ref, c.img)
			whVerifyImage(t, s, c.ref, c.img)
			d, _ := c.img.Digest()
			// By digest too: the tag is not the only way in.
			whVerifyImage(t, s, whRepoOf(c.ref)+"@"+d.String(), c.img)
			m, err := c.img.Manifest()
			if err != nil || len(m.Layers) != c.layers {
				t.Fatalf("test image has %d layers (%v), want %d", len(m.Layers), err, c.layers)
			}
		})
	}
}

// TestGGCRIndex pushes multi-arch indexes and checks the index and every
// child manifest, which must be resolvable by digest.
func TestGGCRIndex(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "s390x"},
	}
	withPlatforms := func(t *testing.T) v1.ImageIndex {
		var adds []mutate.IndexAddendum
		for i := range platforms {
			adds = append(adds, mutate.IndexAddendum{
				Add:        whRandomOCIImage(t, 2048, 2),
				Descriptor: v1.Descriptor{Platform: &platforms[i]},
			})
		}
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	}
	randomIndex := func(t *testing.T) v1.ImageIndex {
		idx, err := random.Index(1024, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	dockerList := func(t *testing.T) v1.ImageIndex {
		var adds []mutate.IndexAddendum
		for i := range platforms[:2] {
			adds = append(adds, mutate.IndexAddendum{
				Add:        whRandomImage(t, 1024, 1),
				Descriptor: v1.Descriptor{Platform: &platforms[i]},
			})
		}
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList), adds...)
	}
	cases := []struct {
		name string
		ref  string
		make func(t *testing.T) v1.ImageIndex
	}{
		{"oci index with platforms", "multi/platforms:v1", withPlatforms},
		{"random.Index", "multi/random:v1", randomIndex},
		{"docker manifest list", "multi/dockerlist:v1", dockerList},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := c.make(t)
			if err := remote.WriteIndex(whRef(t, s, c.ref), idx, whRemote(t)...); err != nil {
				t.Fatalf("push index: %v\n%s", err, s.Log.String())
			}
			want, _ := idx.Digest()
			wantRaw, _ := idx.RawManifest()
			wantMT, _ := idx.MediaType()

			desc, err := remote.Get(whRef(t, s, c.ref), whRemote(t)...)
			if err != nil {
				t.Fatalf("get index: %v", err)
			}
			if desc.Digest != want || desc.MediaType != wantMT || string(desc.Manifest) != string(wantRaw) {
				t.Fatalf("index by tag: digest %s type %s, want %s %s; bytes equal %t",
					desc.Digest, desc.MediaType, want, wantMT, string(desc.Manifest) == string(wantRaw))
			}
			got, err := remote.Index(whRef(t, s, c.ref), whRemote(t)...)
			if err != nil {
				t.Fatalf("pull index: %v", err)
			}
			gotIM, err := got.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			wantIM, _ := idx.IndexManifest()
			if len(gotIM.Manifests) != len(wantIM.Manifests) || len(gotIM.Manifests) == 0 {
				t.Fatalf("index has %d children, want %d", len(gotIM.Manifests), len(wantIM.Manifests))
			}
			repo := whRepoOf(c.ref)
			for i, child := range wantIM.Manifests {
				if gotIM.Manifests[i].Digest != child.Digest {
					t.Errorf("child %d digest %s, want %s", i, gotIM.Manifests[i].Digest, child.Digest)
				}
				if child.Platform != nil && !gotIM.Manifests[i].Platform.Equals(*child.Platform) {
					t.Errorf("child %d platform %v, want %v", i, gotIM.Manifests[i].Platform, child.Platform)
				}
				img, err := idx.Image(child.Digest)
				if err != nil {
					t.Fatal(err)
				}
				whVerifyImage(t, s, repo+"@"+child.Digest.String(), img)

				// HEAD by digest answers with the child's digest and media type.
				r := whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/manifests/"+child.Digest.String(),
					map[string]string{"Accept": string(child.MediaType)}, nil)
				if r.Status != http.StatusOK || r.Header.Get("Docker-Content-Digest") != child.Digest.String() ||
					r.Header.Get("Content-Type") != string(child.MediaType) {
					t.Errorf("HEAD child %d: %d digest %q type %q, want 200 %s %s", i, r.Status,
						r.Header.Get("Docker-Content-Digest"), r.Header.Get("Content-Type"), child.Digest, child.MediaType)
				}
			}
		})
	}
}

// TestGGCRLargeLayer streams a 200 MiB layer through wharf without either
// side holding it in memory, then hashes it back over plain HTTP.
func TestGGCRLargeLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MiB layer: skipped with -short")
	}
	s := StartServer(t, ServerOptions{})
	const size = 200 << 20
	layer := ggcrNewStreamLayer(t, 42, size)
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	whPush(t, s, "big/layer:v1", img)

	// Raw GET, hashed as it streams.
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, s.URL+"/v2/big/layer/blobs/"+layer.digest.String(), nil)
	resp, err := whHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET big blob: %d", resp.StatusCode)
	}
	if resp.ContentLength != size {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, size)
	}
	got, n, err := whStreamDigest(resp.Body)
	if err != nil {
		t.Fatalf("reading big blob after %d bytes: %v", n, err)
	}
	if got != layer.digest.String() || n != size {
		t.Fatalf("big blob hashes to %s (%d bytes), want %s (%d)", got, n, layer.digest, size)
	}

	// A ranged read in the middle matches the generator at that offset.
	off := int64(123456789)
	r := whDo(t, http.MethodGet, s.URL+"/v2/big/layer/blobs/"+layer.digest.String(),
		map[string]string{"Range": "bytes=123456789-123457788"}, nil)
	if r.Status != http.StatusPartialContent || len(r.Body) != 1000 {
		t.Fatalf("ranged GET: %d, %d bytes; want 206, 1000", r.Status, len(r.Body))
	}
	want := make([]byte, 1000)
	src := whRandReader(42)
	if _, err := io.CopyN(io.Discard, src, off); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(src, want); err != nil {
		t.Fatal(err)
	}
	if string(want) != string(r.Body) {
		t.Errorf("ranged GET returned the wrong bytes")
	}
}

// ggcrStreamLayer is an uncompressed layer of pseudo-random bytes made from
// a seed. Compressed returns a fresh generator each call, so a 200 MiB layer
// costs a buffer, not 200 MiB.
type ggcrStreamLayer struct {
	seed   uint64
	size   int64
	digest v1.Hash
}

func ggcrNewStreamLayer(t *testing.T, seed uint64, size int64) *ggcrStreamLayer {
	t.Helper()
	l := &ggcrStreamLayer{seed: seed, size: size}
	rc, _ := l.Compressed()
	h, n, err := v1.SHA256(rc)
	if err != nil || n != size {
		t.Fatalf("hashing stream layer: %v (%d bytes)", err, n)
	}
	l.digest = h
	return l
}

func (l *ggcrStreamLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID equals Digest: the layer is stored uncompressed.
func (l *ggcrStreamLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
func (l *ggcrStreamLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(whRandReader(l.seed), l.size)), nil
}
func (l *ggcrStreamLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }
func (l *ggcrStreamLayer) Size() (int64, error)                 { return l.size, nil }
func (l *ggcrStreamLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}

// TestGGCRCrossRepoMount checks that a blob is served only from repositories
// it was pushed or mounted to, and that mounting answers 201.
func TestGGCRCrossRepoMount(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 4096, 2)
	whPush(t, s, "mnt/a:v1", img)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	lsize, _ := layers[0].Size()
	dg := ld.String()

	// Not mounted yet: another repository must not serve it.
	for _, repo := range []string{"mnt/b2", "mnt/b"} {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/blobs/"+dg, nil, nil)
		whExpectError(t, "GET "+repo+" blob before mount", r, http.StatusNotFound, "BLOB_UNKNOWN")
		r = whDo(t, http.MethodHead, s.URL+"/v2/"+repo+"/blobs/"+dg, nil, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("HEAD %s blob before mount: %d, want 404", repo, r.Status)
		}
	}

	r := whDo(t, http.MethodPost, s.URL+"/v2/mnt/b2/blobs/uploads/?mount="+dg+"&from=mnt/a",
		map[string]string{"Content-Length": "0"}, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("mount: %s, want 201", r)
	}
	if r.Header.Get("Location") == "" {
		t.Errorf("mount: no Location header")
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != dg {
		t.Errorf("mount: Docker-Content-Digest %q, want %s", got, dg)
	}
	if err := whCheckBlob(t, s, "mnt/b2", dg, lsize); err != nil {
		t.Errorf("after mount: %v", err)
	}
	// The Location the mount gave is a pullable blob URL.
	if loc := r.Header.Get("Location"); loc != "" {
		got := whDo(t, http.MethodGet, whResolve(t, s, loc), nil, nil)
		if got.Status != http.StatusOK || whDigest(got.Body) != dg {
			t.Errorf("GET mount Location %s: %d, digest %s", loc, got.Status, whDigest(got.Body))
		}
	}

	// A mount of a digest nobody has falls back to an upload session.
	missing := whDigest([]byte("no such blob anywhere"))
	r = whDo(t, http.MethodPost, s.URL+"/v2/mnt/b2/blobs/uploads/?mount="+missing+"&from=mnt/a",
		map[string]string{"Content-Length": "0"}, nil)
	if r.Status != http.StatusAccepted || r.Header.Get("Location") == "" {
		t.Errorf("mount of unknown blob: %s (Location %q), want 202 with Location", r, r.Header.Get("Location"))
	}

	// The whole image pushed to b by the client pulls back intact.
	whPush(t, s, "mnt/b:v1", img)
	whVerifyImage(t, s, "mnt/b:v1", img)
	whVerifyImage(t, s, "mnt/a:v1", img)
}

// TestGGCRRepush pushes the same image and tag twice, then moves the tag.
func TestGGCRRepush(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 2048, 3)
	d1 := whPush(t, s, "re/push:t", img)
	d2 := whPush(t, s, "re/push:t", img)
	if d1 != d2 {
		t.Fatalf("digest changed on re-push: %s then %s", d1, d2)
	}
	desc, err := remote.Head(whRef(t, s, "re/push:t"), whRemote(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != d1 {
		t.Errorf("HEAD after re-push: %s, want %s", desc.Digest, d1)
	}
	whVerifyImage(t, s, "re/push:t", img)
	tags, err := remote.List(whRepo(t, s, "re/push"), whRemote(t)...)
	if err != nil || !slices.Equal(tags, []string{"t"}) {
		t.Errorf("tags after re-push: %v %v, want [t]", tags, err)
	}

	// Moving the tag to another image keeps the first reachable by digest.
	img2 := whRandomImage(t, 2048, 1)
	whPush(t, s, "re/push:t", img2)
	whVerifyImage(t, s, "re/push:t", img2)
	whVerifyImage(t, s, "re/push@"+d1.String(), img)
}

// TestGGCRListing checks tags list and catalog, with and without paging.
func TestGGCRListing(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	img := whRandomImage(t, 512, 1)
	repos := []string{"list/a", "list/b", "list/c", "list/d", "list/e"}
	for _, r := range repos {
		whPush(t, s, r+":v1", img)
	}
	tags := []string{"t1", "t2", "t3", "t4", "t5", "v1"}
	for _, tag := range tags[:5] {
		whPush(t, s, "list/a:"+tag, img)
	}

	t.Run("remote.List", func(t *testing.T) {
		got, err := remote.List(whRepo(t, s, "list/a"), whRemote(t)...)
		if err != nil || !slices.Equal(got, tags) {
			t.Errorf("tags: %v %v, want %v", got, err, tags)
		}
	})
	t.Run("remote.Catalog", func(t *testing.T) {
		got, err := remote.Catalog(ctx(t), whRepo(t, s, "x").Registry, whRemote(t, remote.WithPageSize(2))...)
		if err != nil || !slices.Equal(got, repos) {
			t.Errorf("catalog: %v %v, want %v", got, err, repos)
		}
	})

	type page struct {
		Repositories []string `json:"repositories"`
		Name         string   `json:"name"`
		Tags         []string `json:"tags"`
	}
	get := func(t *testing.T, u string) (page, string) {
		t.Helper()
		r := whDo(t, http.MethodGet, u, nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %s", u, r)
		}
		var p page
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("GET %s: %v: %s", u, err, r)
		}
		next := ""
		if l := r.Header.Get("Link"); l != "" {
			m := whLinkNext.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("GET %s: Link %q is not <url>; rel=\"next\"", u, l)
			}
			next = whResolve(t, s, m[1])
		}
		return p, next
	}
	// follow walks Link headers from u, at most 10 pages.
	follow := func(t *testing.T, u string, n int, items func(page) []string) ([]string, int) {
		var all []string
		pages := 0
		for u != "" && pages < 10 {
			p, next := get(t, u)
			if len(items(p)) > n {
				t.Errorf("page %s has %d items, more than n=%d", u, len(items(p)), n)
			}
			all = append(all, items(p)...)
			u = next
			pages++
		}
		if u != "" {
			t.Errorf("more than 10 pages")
		}
		return all, pages
	}
	repoItems := func(p page) []string { return p.Repositories }
	tagItems := func(p page) []string { return p.Tags }

	cases := []struct {
		name      string
		url       string
		items     func(page) []string
		pageSize  int
		want      []string
		wantPages int
	}{
		{"catalog n=2 via Link", "/v2/_catalog?n=2", repoItems, 2, repos, 3},
		{"catalog all", "/v2/_catalog", repoItems, 100, repos, 1},
		{"catalog n=2 last=list/b", "/v2/_catalog?n=2&last=list/b", repoItems, 2, repos[2:], 2},
		{"tags n=4 via Link", "/v2/list/a/tags/list?n=4", tagItems, 4, tags, 2},
		{"tags last=t4", "/v2/list/a/tags/list?last=t4", tagItems, 100, tags[4:], 1},
		{"tags n=1 last=t2", "/v2/list/a/tags/list?n=1&last=t2", tagItems, 1, tags[2:], 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, pages := follow(t, s.URL+c.url, c.pageSize, c.items)
			if !slices.Equal(got, c.want) {
				t.Errorf("items %v, want %v", got, c.want)
			}
			// A page of exactly the remaining items may or may not carry a
			// Link to an empty last page; allow that one extra page.
			if pages != c.wantPages && pages != c.wantPages+1 {
				t.Errorf("%d pages, want %d", pages, c.wantPages)
			}
		})
	}
	t.Run("first page of n=2 has a Link", func(t *testing.T) {
		_, next := get(t, s.URL+"/v2/_catalog?n=2")
		if next == "" {
			t.Errorf("no Link rel=next on a partial catalog page")
		}
		if !strings.Contains(next, "n=2") {
			t.Errorf("Link %q does not keep n=2", next)
		}
	})
	t.Run("tags n=0 is empty without Link", func(t *testing.T) {
		p, next := get(t, s.URL+"/v2/list/a/tags/list?n=0")
		if len(p.Tags) != 0 || next != "" {
			t.Errorf("n=0: tags %v, next %q; want none", p.Tags, next)
		}
	})
	t.Run("tags name field", func(t *testing.T) {
		p, _ := get(t, s.URL+"/v2/list/a/tags/list")
		if p.Name != "list/a" {
			t.Errorf("name %q, want list/a", p.Name)
		}
	})
}

// TestGGCRReferrers pushes OCI artifacts with a subject over raw HTTP and
// checks the referrers API, its artifactType filter and the empty answer.
func TestGGCRReferrers(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const repo = "ref/app"
	img := whRandomOCIImage(t, 1024, 1)
	subject := whPush(t, s, repo+":v1", img)
	subjectRaw, _ := img.RawManifest()
	subjectMT, _ := img.MediaType()

	emptyCfg := whUploadBlob(t, s, repo, []byte("{}"))
	if emptyCfg != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Fatalf("empty config digest %s", emptyCfg)
	}

	type desc struct {
		MediaType    string            `json:"mediaType"`
		Digest       string            `json:"digest"`
		Size         int64             `json:"size"`
		ArtifactType string            `json:"artifactType,omitempty"`
		Annotations  map[string]string `json:"annotations,omitempty"`
		Data         string            `json:"data,omitempty"`
	}
	type manifest struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		ArtifactType  string            `json:"artifactType,omitempty"`
		Config        desc              `json:"config"`
		Layers        []desc            `json:"layers"`
		Subject       *desc             `json:"subject,omitempty"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}
	// artifact pushes a manifest of artifactType with one layer, referring to sub.
	artifact := func(t *testing.T, artifactType, content string, sub desc) string {
		t.Helper()
		ld := whUploadBlob(t, s, repo, []byte(content))
		m := manifest{
			SchemaVersion: 2,
			MediaType:     string(types.OCIManifestSchema1),
			ArtifactType:  artifactType,
			Config:        desc{MediaType: "application/vnd.oci.empty.v1+json", Digest: emptyCfg, Size: 2, Data: "e30="},
			Layers:        []desc{{MediaType: "application/vnd.example.blob", Digest: ld, Size: int64(len(content))}},
			Subject:       &sub,
			Annotations:   map[string]string{"org.example.kind": artifactType},
		}
		body, _ := json.Marshal(m)
		dg := whDigest(body)
		r := whPutManifest(t, s, repo, dg, m.MediaType, body)
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT artifact: %s, want 201", r)
		}
		if got := r.Header.Get("OCI-Subject"); got != sub.Digest {
			t.Errorf("PUT artifact: OCI-Subject %q, want %s", got, sub.Digest)
		}
		if got := r.Header.Get("Docker-Content-Digest"); got != dg {
			t.Errorf("PUT artifact: Docker-Content-Digest %q, want %s", got, dg)
		}
		return dg
	}
	subj := desc{MediaType: string(subjectMT), Digest: subject.String(), Size: int64(len(subjectRaw))}
	sbom := artifact(t, "application/vnd.example.sbom.v1", "sbom", subj)
	sig := artifact(t, "application/vnd.example.sig.v1", "signature", subj)
	// The spec requires accepting a subject that does not exist (yet).
	ghost := desc{MediaType: string(types.OCIManifestSchema1), Digest: whDigest([]byte("not pushed yet")), Size: 14}
	orphan := artifact(t, "application/vnd.example.sbom.v1", "orphan", ghost)

	type index struct {
		SchemaVersion int     `json:"schemaVersion"`
		MediaType     string  `json:"mediaType"`
		Manifests     *[]desc `json:"manifests"`
	}
	referrers := func(t *testing.T, query string) (whResp, map[string]desc) {
		t.Helper()
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/referrers/"+query, nil, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("referrers %s: %s, want 200", query, r)
		}
		if ct := r.Header.Get("Content-Type"); ct != string(types.OCIImageIndex) {
			t.Errorf("referrers %s: Content-Type %q", query, ct)
		}
		var idx index
		if err := json.Unmarshal(r.Body, &idx); err != nil {
			t.Fatalf("referrers %s: %v: %s", query, err, r)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != string(types.OCIImageIndex) || idx.Manifests == nil {
			t.Errorf("referrers %s: not an OCI index with a manifests array: %s", query, r)
			return r, nil
		}
		got := map[string]desc{}
		for _, d := range *idx.Manifests {
			got[d.Digest] = d
		}
		return r, got
	}

	cases := []struct {
		name     string
		query    string
		want     []string
		filtered bool
	}{
		{"all referrers", subject.String(), []string{sbom, sig}, false},
		{"artifactType=sbom", subject.String() + "?artifactType=application/vnd.example.sbom.v1", []string{sbom}, true},
		{"artifactType=sig", subject.String() + "?artifactType=application/vnd.example.sig.v1", []string{sig}, true},
		{"artifactType matching none", subject.String() + "?artifactType=application/x-none", nil, true},
		{"subject not pushed", ghost.Digest, []string{orphan}, false},
		{"digest with no referrers", sbom, nil, false},
		{"unknown digest", whDigest([]byte("nothing refers here")), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, got := referrers(t, c.query)
			if got == nil {
				return
			}
			if len(got) != len(c.want) {
				t.Errorf("%d referrers, want %d: %s", len(got), len(c.want), r)
			}
			for _, w := range c.want {
				d, ok := got[w]
				if !ok {
					t.Errorf("referrer %s missing: %s", w, r)
					continue
				}
				if d.MediaType != string(types.OCIManifestSchema1) || d.ArtifactType == "" || d.Size <= 0 {
					t.Errorf("referrer descriptor incomplete: %+v", d)
				}
				if d.Annotations["org.example.kind"] != d.ArtifactType {
					t.Errorf("referrer annotations not copied: %+v", d)
				}
			}
			if c.filtered && r.Header.Get("OCI-Filters-Applied") != "artifactType" {
				t.Errorf("OCI-Filters-Applied %q, want artifactType", r.Header.Get("OCI-Filters-Applied"))
			}
		})
	}
	t.Run("invalid digest", func(t *testing.T) {
		r := whDo(t, http.MethodGet, s.URL+"/v2/"+repo+"/referrers/sha256:xyz", nil, nil)
		if r.Status != http.StatusBadRequest {
			t.Errorf("referrers of invalid digest: %s, want 400", r)
		}
	})
	// ggcr's own referrers client sees the same list.
	t.Run("remote.Referrers", func(t *testing.T) {
		d, err := remote.Referrers(whRepo(t, s, repo).Digest(subject.String()), whRemote(t)...)
		if err != nil {
			t.Fatal(err)
		}
		im, err := d.IndexManifest()
		if err != nil || len(im.Manifests) != 2 {
			t.Errorf("remote.Referrers: %v, %d manifests, want 2", err, len(im.Manifests))
		}
	})
}

// whRandomOCIImage is a random image with OCI media types throughout.
func whRandomOCIImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// TestGGCRConcurrentPushes pushes one image from several clients at once,
// to several tags of one repository and to several repositories: shared
// blobs must deduplicate without errors (no lock or unique-key failures).
func TestGGCRConcurrentPushes(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	const clients = 8
	img := whRandomOCIImage(t, 64<<10, 4)
	cases := []struct {
		name string
		ref  func(i int) string
	}{
		{"same repository, many tags", func(i int) string { return "conc/same:t" + strconv.Itoa(i) }},
		{"many repositories", func(i int) string { return "conc/r" + strconv.Itoa(i) + ":v1" }},
		{"same tag", func(int) string { return "conc/tag:v1" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// References and options are made on the test goroutine.
			refs := make([]name.Reference, clients)
			for i := range refs {
				refs[i] = whRef(t, s, c.ref(i))
			}
			opts := whRemote(t)
			errs := make(chan error, clients)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := remote.Write(refs[i], img, opts...); err != nil {
						errs <- fmt.Errorf("client %d (%s): %w", i, refs[i], err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent push: %v", err)
			}
			if t.Failed() {
				t.Logf("server log:\n%s", s.Log.String())
			}
			for i := range clients {
				whVerifyImage(t, s, c.ref(i), img)
			}
		})
	}
}

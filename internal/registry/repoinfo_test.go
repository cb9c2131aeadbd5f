package registry

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// describedImage stores a config with the description label (if not
// empty) in repo and returns an image manifest over it carrying the
// description annotation (if not empty).
func describedImage(t *testing.T, r *Registry, repo, label, annotation string) []byte {
	t.Helper()
	img := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	if label != "" {
		img.Config.Labels = map[string]string{ocispec.AnnotationDescription: label}
	}
	cfg, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest := digest.FromBytes(cfg)
	if err := r.meta.CommitInlineBlob(t.Context(), repo, cfgDigest, cfg, ""); err != nil {
		t.Fatalf("commit config: %v", err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: []ocispec.Descriptor{},
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	if annotation != "" {
		m.Annotations = map[string]string{ocispec.AnnotationDescription: annotation}
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// describedIndex pushes children (platform → label) untagged and returns
// an index over them, in that order, with the annotation if not empty.
func describedIndex(t *testing.T, r *Registry, repo string, annotation string, children ...[2]string) []byte {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	for _, c := range children {
		body := describedImage(t, r, repo, c[1], "")
		info, err := r.PutManifest(t.Context(), repo, digest.FromBytes(body).String(), ocispec.MediaTypeImageManifest, body)
		if err != nil {
			t.Fatalf("push child: %v", err)
		}
		os, arch, _ := strings.Cut(c[0], "/")
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
			Digest: info.Digest, Size: int64(len(body)), Platform: &ocispec.Platform{OS: os, Architecture: arch}})
	}
	if annotation != "" {
		idx.Annotations = map[string]string{ocispec.AnnotationDescription: annotation}
	}
	body, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestRepositoryInfoDescription checks the order a description is taken
// in: explicit, then the newest tag's annotation, then its config label
// (of the linux/amd64 child for an index), and the short form search shows.
func TestRepositoryInfoDescription(t *testing.T) {
	long := strings.Repeat("é", 120)
	type push struct {
		tag  string
		body func(t *testing.T, r *Registry, repo string) []byte
	}
	image := func(label, annotation string) func(t *testing.T, r *Registry, repo string) []byte {
		return func(t *testing.T, r *Registry, repo string) []byte {
			return describedImage(t, r, repo, label, annotation)
		}
	}
	tests := []struct {
		name       string
		pushes     []push
		explicit   string
		want       string
		wantSource string
		wantShort  string
	}{
		{"none", []push{{"v1", image("", "")}}, "", "", "", ""},
		{"label", []push{{"v1", image("from label", "")}}, "", "from label", DescriptionLabel, "from label"},
		{"annotation over label", []push{{"v1", image("from label", "from annotation")}}, "",
			"from annotation", DescriptionAnnotation, "from annotation"},
		{"explicit over all", []push{{"v1", image("from label", "from annotation")}}, "set by hand",
			"set by hand", DescriptionExplicit, "set by hand"},
		{"newest tag wins", []push{{"new", image("", "older")}, {"old", image("", "newer")}}, "",
			"newer", DescriptionAnnotation, "newer"},
		{"index annotation", []push{{"v1", func(t *testing.T, r *Registry, repo string) []byte {
			return describedIndex(t, r, repo, "index says", [2]string{"linux/amd64", "child says"})
		}}}, "", "index says", DescriptionAnnotation, "index says"},
		{"index child label", []push{{"v1", func(t *testing.T, r *Registry, repo string) []byte {
			return describedIndex(t, r, repo, "", [2]string{"linux/arm64", "arm"}, [2]string{"linux/amd64", "amd"})
		}}}, "", "amd", DescriptionLabel, "amd"},
		{"index first child", []push{{"v1", func(t *testing.T, r *Registry, repo string) []byte {
			return describedIndex(t, r, repo, "", [2]string{"linux/arm64", "arm"}, [2]string{"linux/s390x", "s390x"})
		}}}, "", "arm", DescriptionLabel, "arm"},
		{"short form", []push{{"v1", image("", "\n  first line  \nsecond line")}}, "",
			"\n  first line  \nsecond line", DescriptionAnnotation, "first line"},
		{"capped", []push{{"v1", image("", long)}}, "", long, DescriptionAnnotation, strings.Repeat("é", SearchDescriptionMax)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestRegistry(t, 1<<20)
			const repo = "desc/app"
			for _, p := range tc.pushes {
				body := p.body(t, r, repo)
				var mt struct{ MediaType string }
				json.Unmarshal(body, &mt)
				time.Sleep(3 * time.Millisecond) // tag times are in milliseconds
				if _, err := r.PutManifest(t.Context(), repo, p.tag, mt.MediaType, body); err != nil {
					t.Fatalf("push %s: %v", p.tag, err)
				}
			}
			if tc.explicit != "" {
				if err := r.SetRepositoryInfo(t.Context(), repo, meta.RepoInfoUpdate{Description: &tc.explicit}); err != nil {
					t.Fatalf("SetRepositoryInfo: %v", err)
				}
			}
			got, err := r.RepositoryInfo(t.Context(), repo)
			if err != nil {
				t.Fatalf("RepositoryInfo: %v", err)
			}
			if got.Description != tc.want || got.DescriptionSource != tc.wantSource || got.ShortDescription != tc.wantShort {
				t.Errorf("description = %q from %q, short %q; want %q from %q, short %q",
					got.Description, got.DescriptionSource, got.ShortDescription, tc.want, tc.wantSource, tc.wantShort)
			}
			// What search records and shows is the same short form.
			res, err := r.Search(t.Context(), nil, repo, 0, 1)
			if err != nil || len(res.Matches) != 1 || !res.Matches[0].Indexed || res.Matches[0].Description != tc.wantShort {
				t.Errorf("search for %s = %+v, %v; want its record with %q", repo, res.Matches, err, tc.wantShort)
			}
		})
	}
}

// TestRepositoryInfoUnknown checks that an unknown repository has no
// information and none can be set on it.
func TestRepositoryInfoUnknown(t *testing.T) {
	r, _ := newTestRegistry(t, 0)
	if _, err := r.RepositoryInfo(t.Context(), "no/such"); !hasCode(err, CodeNameUnknown) {
		t.Errorf("RepositoryInfo of an unknown repository: %v, want NAME_UNKNOWN", err)
	}
	d := "x"
	if err := r.SetRepositoryInfo(t.Context(), "no/such", meta.RepoInfoUpdate{Description: &d}); !hasCode(err, CodeNameUnknown) {
		t.Errorf("SetRepositoryInfo of an unknown repository: %v, want NAME_UNKNOWN", err)
	}
	if err := r.Star(t.Context(), "no/such", "alice", true); !hasCode(err, CodeNameUnknown) {
		t.Errorf("Star of an unknown repository: %v, want NAME_UNKNOWN", err)
	}
}

// TestSearchFollowsContent checks the search record follows what changes
// a description (a tag pushed or deleted, a description set) and stars,
// and that IndexSearch records repositories that have none.
func TestSearchFollowsContent(t *testing.T) {
	ctx := t.Context()
	r, _ := newTestRegistry(t, 1<<20)
	r.opts.DeleteEnabled = true
	const repo = "sea/monster"
	find := func(q string) []meta.RepoMatch {
		t.Helper()
		res, err := r.Search(ctx, nil, q, 0, 10)
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		return res.Matches
	}
	body := describedImage(t, r, repo, "", "The kraken of the deep")
	if _, err := r.PutManifest(ctx, repo, "v1", ocispec.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}
	if got := find("kraken"); len(got) != 1 || got[0].Name != repo {
		t.Errorf("search by the annotation = %+v", got)
	}
	if err := r.Star(ctx, repo, "ann", true); err != nil {
		t.Fatal(err)
	}
	if got := find("kraken"); len(got) != 1 || got[0].Stars != 1 {
		t.Errorf("after a star: %+v", got)
	}
	if err := r.DeleteManifest(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	if got := find("kraken"); len(got) != 0 {
		t.Errorf("search by the description of a deleted tag = %+v", got)
	}
	desc := "Leviathan, set by hand"
	if err := r.SetRepositoryInfo(ctx, repo, meta.RepoInfoUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if got := find("leviathan"); len(got) != 1 || got[0].Description != desc || got[0].Stars != 1 {
		t.Errorf("search by the explicit description = %+v", got)
	}

	// A repository with content but no record yet (as an import leaves
	// it) is found by name and described the slow way, then recorded.
	const bare = "sea/bare"
	if err := r.meta.CommitInlineBlob(ctx, bare, digest.FromString("x"), []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	if got := find("bare"); len(got) != 1 || got[0].Indexed {
		t.Fatalf("unrecorded repository: %+v", got)
	}
	if n, err := r.IndexSearch(ctx); err != nil || n != 1 {
		t.Errorf("IndexSearch = %d, %v; want 1", n, err)
	}
	if got := find("bare"); len(got) != 1 || !got[0].Indexed {
		t.Errorf("after IndexSearch: %+v", got)
	}
}

// TestSearchDescriptionOfSparseIndex checks that a description not yet
// known (an index whose linux/amd64 child has not arrived) is looked up
// again on the next tag, while one that is known is not read again.
func TestSearchDescriptionOfSparseIndex(t *testing.T) {
	ctx := t.Context()
	r, _ := newTestRegistry(t, 1<<20)
	r.opts.Sparse = SparseIndexes // the server's default
	const repo = "sea/serpent"
	child := describedImage(t, r, repo, "The sea serpent, multi-arch", "")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(child), Size: int64(len(child)),
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}}
	idx.SchemaVersion = 2
	body, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	described := func() string {
		t.Helper()
		res, err := r.Search(ctx, nil, repo, 0, 1)
		if err != nil || len(res.Matches) != 1 {
			t.Fatalf("Search(%q) = %+v, %v", repo, res, err)
		}
		return res.Matches[0].Description
	}
	if _, err := r.PutManifest(ctx, repo, "v1", ocispec.MediaTypeImageIndex, body); err != nil {
		t.Fatalf("push the sparse index: %v", err)
	}
	if got := described(); got != "" {
		t.Fatalf("description with the child absent = %q, want none", got)
	}
	if _, err := r.PutManifest(ctx, repo, digest.FromBytes(child).String(), ocispec.MediaTypeImageManifest, child); err != nil {
		t.Fatalf("push the child: %v", err)
	}
	if _, err := r.PutManifest(ctx, repo, "v2", ocispec.MediaTypeImageIndex, body); err != nil {
		t.Fatalf("tag the index again: %v", err)
	}
	if got := described(); got != "The sea serpent, multi-arch" {
		t.Fatalf("description once the child arrived = %q", got)
	}
	if _, ok := r.descs.get(meta.RepoDigest{Repo: repo, Digest: digest.FromBytes(body)}); !ok {
		t.Errorf("a settled description is not remembered")
	}
}

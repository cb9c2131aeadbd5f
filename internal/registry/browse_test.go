package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-registry/wharf/internal/meta"
)

// TestDescribeRepositories: the batched descriptions of a listing are
// those RepositoryInfo resolves one by one, for every source of a
// description, with configs inline and in the blob store, and twice (the
// second time from the config cache).
func TestDescribeRepositories(t *testing.T) {
	for _, inline := range []int64{1 << 20, 0} {
		t.Run(fmt.Sprintf("inline=%d", inline), func(t *testing.T) {
			r, _ := newTestRegistry(t, inline)
			pushes := map[string]func(repo string) []byte{
				"d/none":       func(repo string) []byte { return describedImage(t, r, repo, "", "") },
				"d/label":      func(repo string) []byte { return describedImage(t, r, repo, "from label", "") },
				"d/annotation": func(repo string) []byte { return describedImage(t, r, repo, "from label", "from annotation") },
				"d/explicit":   func(repo string) []byte { return describedImage(t, r, repo, "from label", "") },
				"d/index-annotation": func(repo string) []byte {
					return describedIndex(t, r, repo, "index says", [2]string{"linux/amd64", "child says"})
				},
				"d/index-amd64": func(repo string) []byte {
					return describedIndex(t, r, repo, "", [2]string{"linux/arm64", "arm"}, [2]string{"linux/amd64", "amd"})
				},
				"d/index-first": func(repo string) []byte {
					return describedIndex(t, r, repo, "", [2]string{"linux/arm64", "arm\nmore"}, [2]string{"linux/s390x", "s390x"})
				},
			}
			var names []string
			for repo, body := range pushes {
				b := body(repo)
				var mt struct{ MediaType string }
				json.Unmarshal(b, &mt)
				if _, err := r.PutManifest(t.Context(), repo, "v1", mt.MediaType, b); err != nil {
					t.Fatalf("push %s: %v", repo, err)
				}
				names = append(names, repo)
			}
			explicit := "set by hand"
			if err := r.SetRepositoryInfo(t.Context(), "d/explicit", meta.RepoInfoUpdate{Description: &explicit}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(names)
			names = append(names, "d/absent")
			for range 2 {
				got, err := r.DescribeRepositories(t.Context(), names)
				if err != nil {
					t.Fatalf("DescribeRepositories: %v", err)
				}
				if len(got) != len(names)-1 {
					t.Fatalf("%d listings for %d existing repositories", len(got), len(names)-1)
				}
				for i, l := range got {
					info, err := r.RepositoryInfo(t.Context(), l.Name)
					if err != nil {
						t.Fatal(err)
					}
					if l.Name != names[i] || l.Description != info.ShortDescription || l.Tags != 1 || l.LastPush.IsZero() {
						t.Errorf("listing %+v; want %s with %q, 1 tag, a push time", l, names[i], info.ShortDescription)
					}
				}
			}
		})
	}
}

// TestTagSummaries: each tag's digest, size, platforms, kind and push
// time, a page at a time.
func TestTagSummaries(t *testing.T) {
	r, _ := newTestRegistry(t, 0)
	const repo = "sum/app"
	img := describedImage(t, r, repo, "", "")
	if _, err := r.PutManifestTags(t.Context(), repo, digest.FromBytes(img).String(), []string{"a", "b"}, ocispec.MediaTypeImageManifest, img); err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	json.Unmarshal(img, &m)
	time.Sleep(2 * time.Millisecond)
	idx := describedIndex(t, r, repo, "", [2]string{"linux/arm64", "x"}, [2]string{"linux/amd64", "y"})
	if _, err := r.PutManifest(t.Context(), repo, "c", ocispec.MediaTypeImageIndex, idx); err != nil {
		t.Fatal(err)
	}
	page, more, err := r.TagSummaries(t.Context(), repo, "", 2)
	if err != nil || !more || len(page) != 2 {
		t.Fatalf("first page: %v, more %v, %v", page, more, err)
	}
	want := TagSummary{Name: "a", Digest: digest.FromBytes(img), MediaType: ocispec.MediaTypeImageManifest,
		Size: m.Config.Size, Platforms: []string{"linux/amd64"}}
	if got := page[0]; got.Name != want.Name || got.Digest != want.Digest || got.Size != want.Size ||
		!slices.Equal(got.Platforms, want.Platforms) || got.Index || got.Pushed.IsZero() {
		t.Errorf("tag a = %+v, want %+v", got, want)
	}
	rest, more, err := r.TagSummaries(t.Context(), repo, "b", 2)
	if err != nil || more || len(rest) != 1 {
		t.Fatalf("second page: %v, more %v, %v", rest, more, err)
	}
	if c := rest[0]; c.Name != "c" || !c.Index || !slices.Equal(c.Platforms, []string{"linux/arm64", "linux/amd64"}) ||
		c.Size <= 0 || !c.Pushed.After(page[0].Pushed) {
		t.Errorf("tag c = %+v", c)
	}
	if _, _, err := r.TagSummaries(t.Context(), "no/such", "", 2); !hasCode(err, CodeNameUnknown) {
		t.Errorf("unknown repository: %v", err)
	}
}

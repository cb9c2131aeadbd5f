package registry

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage stores a config blob in repo and returns an OCI image manifest
// over it and the given layer digests (present or not), unique to name.
func testImage(t *testing.T, r *Registry, repo, name string, layers ...digest.Digest) []byte {
	t.Helper()
	cfg := []byte(`{"name":"` + name + `"}`)
	cfgDigest := digest.FromBytes(cfg)
	if err := r.meta.CommitInlineBlob(t.Context(), repo, cfgDigest, cfg, ""); err != nil {
		t.Fatalf("commit config: %v", err)
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cfgDigest, len(cfg))
	for i, l := range layers {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":10}`, ocispec.MediaTypeImageLayerGzip, l)
	}
	return []byte(body + "]}")
}

// testIndex is an OCI index listing children with the given descriptor
// media types and sizes.
func testIndex(children ...ocispec.Descriptor) []byte {
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[`, ocispec.MediaTypeImageIndex)
	for i, c := range children {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, c.MediaType, c.Digest, c.Size)
	}
	return []byte(body + "]}")
}

// TestPutManifestSparse pushes manifests referencing content the repository
// does not hold, under each policy: an index's missing child is accepted
// by default, an image's missing blob only under SparseAll, both refused
// with MANIFEST_BLOB_UNKNOWN under SparseNone; an index child that is
// present must match its descriptor under every policy.
func TestPutManifestSparse(t *testing.T) {
	const repo = "sparse/app"
	missing := digest.FromString("never pushed")
	tests := []struct {
		name string
		// body builds the manifest to push; child is a stored image.
		body func(t *testing.T, r *Registry, child ocispec.Descriptor) []byte
		want map[SparsePolicy]Code // by policy; "" for success
	}{
		{"image missing a layer", func(t *testing.T, r *Registry, _ ocispec.Descriptor) []byte {
			return testImage(t, r, repo, "layerless", missing)
		}, map[SparsePolicy]Code{SparseNone: CodeManifestBlobUnknown, SparseIndexes: CodeManifestBlobUnknown, SparseAll: ""}},
		{"index missing a child", func(t *testing.T, r *Registry, child ocispec.Descriptor) []byte {
			return testIndex(child, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: missing, Size: 99})
		}, map[SparsePolicy]Code{SparseNone: CodeManifestBlobUnknown, SparseIndexes: "", SparseAll: ""}},
		{"index of present children", func(t *testing.T, r *Registry, child ocispec.Descriptor) []byte {
			return testIndex(child)
		}, map[SparsePolicy]Code{SparseNone: "", SparseIndexes: "", SparseAll: ""}},
		{"present child of wrong size", func(t *testing.T, r *Registry, child ocispec.Descriptor) []byte {
			child.Size++
			return testIndex(child, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: missing, Size: 99})
		}, map[SparsePolicy]Code{SparseNone: CodeManifestInvalid, SparseIndexes: CodeManifestInvalid, SparseAll: CodeManifestInvalid}},
		{"present child of wrong media type", func(t *testing.T, r *Registry, child ocispec.Descriptor) []byte {
			child.MediaType = MediaTypeDockerManifest
			return testIndex(child)
		}, map[SparsePolicy]Code{SparseNone: CodeManifestInvalid, SparseIndexes: CodeManifestInvalid, SparseAll: CodeManifestInvalid}},
	}
	for _, tt := range tests {
		for _, policy := range []SparsePolicy{SparseNone, SparseIndexes, SparseAll} {
			t.Run(tt.name+"/policy="+strconv.Itoa(int(policy)), func(t *testing.T) {
				r, _ := newTestRegistry(t, 1<<10)
				r.opts.Sparse = policy
				img := testImage(t, r, repo, "child")
				stored, err := r.PutManifest(t.Context(), repo, digest.FromBytes(img).String(), ocispec.MediaTypeImageManifest, img)
				if err != nil {
					t.Fatalf("push child: %v", err)
				}
				child := ocispec.Descriptor{MediaType: stored.MediaType, Digest: stored.Digest, Size: int64(len(img))}
				body := tt.body(t, r, child)
				want := tt.want[policy]
				_, err = r.PutManifest(t.Context(), repo, "v1", "", body)
				if want == "" {
					if err != nil {
						t.Fatalf("PutManifest: %v; want success", err)
					}
					got, err := r.GetManifest(t.Context(), repo, "v1")
					if err != nil || string(got.Payload) != string(body) {
						t.Errorf("GetManifest(v1) = %q, %v; want the pushed bytes", got.Payload, err)
					}
					return
				}
				if e, ok := AsError(err); !ok || e.Code != want {
					t.Fatalf("PutManifest: %v; want code %s", err, want)
				}
				if _, err := r.GetManifest(t.Context(), repo, "v1"); err == nil {
					t.Errorf("refused manifest is tagged all the same")
				}
			})
		}
	}
}

// TestPutManifestTagParams pushes by digest with tag parameters: every tag
// is set, each once, and resolves to the digest pushed, sha512 included;
// bad parameters set no tag at all.
func TestPutManifestTagParams(t *testing.T) {
	const repo = "tags/app"
	tooMany := make([]string, MaxTagParams+1)
	for i := range tooMany {
		tooMany[i] = "t" + strconv.Itoa(i)
	}
	tests := []struct {
		name     string
		alg      digest.Algorithm
		byTag    bool // push by the tag "ref" instead of by digest
		params   []string
		wantTags []string
		wantCode Code
	}{
		{"several tags", digest.SHA256, false, []string{"a", "b", "c"}, []string{"a", "b", "c"}, ""},
		{"duplicates set once", digest.SHA256, false, []string{"a", "b", "a"}, []string{"a", "b"}, ""},
		{"sha512 digest", digest.SHA512, false, []string{"s1", "s2"}, []string{"s1", "s2"}, ""},
		{"no parameters", digest.SHA256, false, nil, nil, ""},
		{"tag reference with parameters", digest.SHA256, true, []string{"a"}, nil, CodeTagInvalid},
		{"one invalid tag", digest.SHA256, false, []string{"ok", "-bad"}, nil, CodeTagInvalid},
		{"too many tags", digest.SHA256, false, tooMany, nil, CodeTooManyTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestRegistry(t, 1<<10)
			img := testImage(t, r, repo, "img")
			d := tt.alg.FromBytes(img)
			ref := d.String()
			if tt.byTag {
				ref = "ref"
			}
			info, err := r.PutManifestTags(t.Context(), repo, ref, tt.params, ocispec.MediaTypeImageManifest, img)
			if tt.wantCode != "" {
				if e, ok := AsError(err); !ok || e.Code != tt.wantCode {
					t.Fatalf("PutManifestTags: %v; want code %s", err, tt.wantCode)
				}
				for _, tag := range append(tt.params, "ref") {
					if ValidateTag(tag) != nil {
						continue
					}
					if _, err := r.GetManifest(t.Context(), repo, tag); err == nil {
						t.Errorf("tag %q set by a refused push", tag)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("PutManifestTags: %v", err)
			}
			if info.Digest != d || !slices.Equal(info.Tags, tt.wantTags) {
				t.Errorf("PutManifestTags = digest %s, tags %v; want %s, %v", info.Digest, info.Tags, d, tt.wantTags)
			}
			for _, tag := range tt.wantTags {
				got, err := r.GetManifest(t.Context(), repo, tag)
				if err != nil || got.Digest != d || string(got.Payload) != string(img) {
					t.Errorf("GetManifest(%s) = %s, %v; want %s", tag, got.Digest, err, d)
				}
			}
			tags, _, err := r.Tags(t.Context(), repo, "", -1)
			if err != nil || len(tags) != len(tt.wantTags) {
				t.Errorf("Tags = %v, %v; want %v", tags, err, tt.wantTags)
			}
		})
	}
}

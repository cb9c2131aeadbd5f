package metatest

import (
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testBrowser checks the page queries of meta.Browser: summaries, tag
// records with manifests, manifests and inline blobs by digest, the tags
// of a digest and the newest manifests, each for many names at once.
func testBrowser(t *testing.T, s meta.Store) {
	ctx := t.Context()
	b1 := commitBlob(t, s, "lib/a", "b1", 10)
	one, two := image("one", b1), image("two", b1)
	put(t, s, "lib/a", one, "x")
	put(t, s, "lib/a", one, "y")
	put(t, s, "lib/a", two, "z")
	idx := index("idx", one, two)
	put(t, s, "lib/a", idx, "")
	commitBlob(t, s, "lib/empty", "b2", 5) // a repository without tags

	sums, err := s.RepoSummaries(ctx, []string{"lib/a", "lib/empty", "lib/none"})
	if err != nil {
		t.Fatalf("RepoSummaries: %v", err)
	}
	if got := sums["lib/a"]; got.Tags != 3 || got.LastPush.IsZero() {
		t.Errorf("summary of lib/a = %+v, want 3 tags and a push time", got)
	}
	if got, ok := sums["lib/empty"]; !ok || got.Tags != 0 || !got.LastPush.IsZero() {
		t.Errorf("summary of lib/empty = %+v, %v; want 0 tags, no push", got, ok)
	}
	if _, ok := sums["lib/none"]; ok {
		t.Errorf("a summary for an absent repository")
	}

	recs, err := s.TagRecords(ctx, "lib/a", "x", 10)
	if err != nil {
		t.Fatalf("TagRecords: %v", err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"y", "z"}) || recs[0].Digest != one.Digest || string(recs[1].Payload) != string(two.Payload) ||
		recs[1].MediaType != two.MediaType || recs[1].Updated.IsZero() {
		t.Errorf("TagRecords after x = %+v", recs)
	}
	if recs, _ := s.TagRecords(ctx, "lib/a", "", 1); len(recs) != 1 || recs[0].Name != "x" {
		t.Errorf("TagRecords limit 1 = %+v", recs)
	}

	ms, err := s.ManifestsByDigest(ctx, "lib/a", []digest.Digest{one.Digest, idx.Digest, digest.FromString("absent")})
	if err != nil {
		t.Fatalf("ManifestsByDigest: %v", err)
	}
	if len(ms) != 2 || string(ms[idx.Digest].Payload) != string(idx.Payload) || ms[one.Digest].MediaType != one.MediaType {
		t.Errorf("ManifestsByDigest = %v", ms)
	}
	if ms, _ := s.ManifestsByDigest(ctx, "lib/empty", []digest.Digest{one.Digest}); len(ms) != 0 {
		t.Errorf("ManifestsByDigest crosses repositories: %v", ms)
	}

	content := []byte(`{"config":{}}`)
	inl := digest.FromBytes(content)
	if err := s.CommitInlineBlob(ctx, "lib/a", inl, content, ""); err != nil {
		t.Fatalf("CommitInlineBlob: %v", err)
	}
	blobs, err := s.InlineBlobs(ctx, []digest.Digest{inl, b1})
	if err != nil {
		t.Fatalf("InlineBlobs: %v", err)
	}
	if len(blobs) != 1 || string(blobs[inl]) != string(content) {
		t.Errorf("InlineBlobs = %v, want only the inline one", blobs)
	}

	tags, err := s.TagsOf(ctx, "lib/a", one.Digest)
	if err != nil || !slices.Equal(tags, []string{"x", "y"}) {
		t.Errorf("TagsOf(one) = %v, %v", tags, err)
	}
	if tags, err := s.TagsOf(ctx, "lib/a", idx.Digest); err != nil || len(tags) != 0 {
		t.Errorf("TagsOf(untagged) = %v, %v", tags, err)
	}

	commitBlob(t, s, "lib/b", "b1", 10)
	put(t, s, "lib/b", two, "only")
	if repos, err := s.ManifestRepos(ctx, two.Digest, 10); err != nil || !slices.Equal(repos, []string{"lib/a", "lib/b"}) {
		t.Errorf("ManifestRepos(two) = %v, %v", repos, err)
	}
	if repos, err := s.ManifestRepos(ctx, two.Digest, 1); err != nil || !slices.Equal(repos, []string{"lib/a"}) {
		t.Errorf("ManifestRepos(two, 1) = %v, %v", repos, err)
	}
	got, err := s.ManifestsOf(ctx, []meta.RepoDigest{{Repo: "lib/a", Digest: idx.Digest}, {Repo: "lib/b", Digest: two.Digest},
		{Repo: "lib/b", Digest: one.Digest}})
	if err != nil || len(got) != 2 || string(got[meta.RepoDigest{Repo: "lib/a", Digest: idx.Digest}].Payload) != string(idx.Payload) ||
		got[meta.RepoDigest{Repo: "lib/b", Digest: two.Digest}] == nil {
		t.Errorf("ManifestsOf = %v, %v", got, err)
	}
	if repos, err := s.ManifestRepos(ctx, digest.FromString("absent"), 10); err != nil || len(repos) != 0 {
		t.Errorf("ManifestRepos(absent) = %v, %v", repos, err)
	}
	newest, err := s.NewestManifests(ctx, []string{"lib/a", "lib/b", "lib/empty"})
	if err != nil {
		t.Fatalf("NewestManifests: %v", err)
	}
	wantA, err := s.NewestTag(ctx, "lib/a")
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := s.ResolveTag(ctx, "lib/a", wantA)
	if len(newest) != 2 || newest["lib/a"].Digest != wantDigest || newest["lib/b"].Digest != two.Digest {
		t.Errorf("NewestManifests = %v, want lib/a at %s (tag %s) and lib/b at %s", newest, wantDigest, wantA, two.Digest)
	}
}

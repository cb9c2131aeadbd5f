// Package metatest is the conformance suite every meta.Store implementation
// must pass. A backend's own test calls Run with a constructor for empty
// stores; the suite checks the contract documented on meta.Store through the
// interface only, so the SQLite store, the PostgreSQL store and any later one
// are held to exactly the same behaviour (byte-order listings included).
package metatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-registry/wharf/internal/meta"
)

// concurrency bounds the goroutines of the concurrent cases.
const concurrency = 16

// Media types used by the fixtures.
const (
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtIndex    = "application/vnd.oci.image.index.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
)

// Run runs the meta.Store conformance suite. newStore is called once per
// subtest and must return an empty store that shares nothing with the stores
// of other subtests; it should close the store (and drop what it created)
// with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"CommitBlob", testCommitBlob},
		{"RepoBlobSizeOtherRepo", testRepoBlobSizeOtherRepo},
		{"LinkBlob", testLinkBlob},
		{"UnlinkBlob", testUnlinkBlob},
		{"CommitBlobEndsUpload", testCommitBlobEndsUpload},
		{"PutManifestMissingRefs", testPutManifestMissingRefs},
		{"PutManifestRoundTrip", testPutManifestRoundTrip},
		{"PutManifestIdempotent", testPutManifestIdempotent},
		{"MoveTag", testMoveTag},
		{"IndexChildren", testIndexChildren},
		{"RefKindMatters", testRefKindMatters},
		{"DeleteManifest", testDeleteManifest},
		{"DeleteTag", testDeleteTag},
		{"GetTaggedManifest", testGetTaggedManifest},
		{"Tags", testTags},
		{"Repositories", testRepositories},
		{"SearchRepositories", testSearchRepositories},
		{"SearchSource", testSearchSource},
		{"Sessions", testSessions},
		{"RepoExists", testRepoExists},
		{"Referrers", testReferrers},
		{"CreateGetUpload", testCreateGetUpload},
		{"AdvanceUpload", testAdvanceUpload},
		{"InlineUpload", testInlineUpload},
		{"InlineBlob", testInlineBlob},
		{"DeleteUpload", testDeleteUpload},
		{"StaleUploads", testStaleUploads},
		{"ConcurrentPushes", testConcurrentPushes},
		{"ConcurrentAdvance", testConcurrentAdvance},
		{"SparseRefs", testSparseRefs},
		{"SparseContentArrivesLater", testSparseContentArrivesLater},
		{"PutManifestTags", testPutManifestTags},
		{"SparseNotLost", testSparseNotLost},
		{"TouchKeepsLink", testTouchKeepsLink},
		{"PullThenDeleteFreesAtOnce", testPullThenDeleteFreesAtOnce},
		{"ReviewBeforeTouch", testReviewBeforeTouch},
		{"ExplicitCollectionIgnoresTouch", testExplicitCollectionIgnoresTouch},
		{"SigningKey", testSigningKey},
		{"RepoInfo", testRepoInfo},
		{"NewestTag", testNewestTag},
		{"ManifestDigests", testManifestDigests},
		{"Browser", testBrowser},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// blobDigest is the digest of a made-up blob named name.
func blobDigest(name string) digest.Digest { return digest.FromString("blob:" + name) }

// commitBlob records blob name (size bytes) in repo.
func commitBlob(t *testing.T, s meta.Store, repo, name string, size int64) digest.Digest {
	t.Helper()
	d := blobDigest(name)
	if err := s.CommitBlob(t.Context(), repo, d, size, "", nil); err != nil {
		t.Fatalf("CommitBlob(%q, %s, %d): %v", repo, d, size, err)
	}
	return d
}

// image builds an image manifest whose payload is unique to name, with
// blob references to the given digests.
func image(name string, blobs ...digest.Digest) *meta.Manifest {
	payload := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"name":%q}`, mtManifest, name))
	m := &meta.Manifest{
		Digest:       digest.FromBytes(payload),
		MediaType:    mtManifest,
		ArtifactType: mtConfig,
		Payload:      payload,
	}
	for _, b := range blobs {
		m.Refs = append(m.Refs, meta.Ref{Digest: b, Kind: meta.RefBlob})
	}
	return m
}

// index builds an image index over children.
func index(name string, children ...*meta.Manifest) *meta.Manifest {
	payload := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"name":%q}`, mtIndex, name))
	m := &meta.Manifest{Digest: digest.FromBytes(payload), MediaType: mtIndex, Payload: payload}
	for _, c := range children {
		m.Refs = append(m.Refs, meta.Ref{Digest: c.Digest, Kind: meta.RefManifest})
	}
	return m
}

func put(t *testing.T, s meta.Store, repo string, m *meta.Manifest, tag string) {
	t.Helper()
	if err := s.PutManifest(t.Context(), repo, m, tag); err != nil {
		t.Fatalf("PutManifest(%q, %s, tag %q): %v", repo, m.Digest, tag, err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("%s: error = %v; want meta.ErrNotFound", what, err)
	}
}

func checkRepoBlob(t *testing.T, s meta.Store, repo string, d digest.Digest, want int64) {
	t.Helper()
	size, err := s.RepoBlobSize(t.Context(), repo, d)
	if err != nil || size != want {
		t.Errorf("RepoBlobSize(%q, %s) = %d, %v; want %d, nil", repo, d, size, err, want)
	}
}

func checkNoRepoBlob(t *testing.T, s meta.Store, repo string, d digest.Digest) {
	t.Helper()
	size, err := s.RepoBlobSize(t.Context(), repo, d)
	if !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("RepoBlobSize(%q, %s) = %d, %v; want meta.ErrNotFound", repo, d, size, err)
	}
}

func checkTag(t *testing.T, s meta.Store, repo, tag string, want digest.Digest) {
	t.Helper()
	got, err := s.ResolveTag(t.Context(), repo, tag)
	if err != nil || got != want {
		t.Errorf("ResolveTag(%q, %q) = %q, %v; want %s, nil", repo, tag, got, err, want)
	}
}

func checkNoTag(t *testing.T, s meta.Store, repo, tag string) {
	t.Helper()
	got, err := s.ResolveTag(t.Context(), repo, tag)
	if !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("ResolveTag(%q, %q) = %q, %v; want meta.ErrNotFound", repo, tag, got, err)
	}
}

func checkNoManifest(t *testing.T, s meta.Store, repo string, d digest.Digest) {
	t.Helper()
	m, err := s.GetManifest(t.Context(), repo, d)
	if !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("GetManifest(%q, %s) = %+v, %v; want meta.ErrNotFound", repo, d, m, err)
	}
}

// checkManifest asserts repo holds m with the same stored fields.
func checkManifest(t *testing.T, s meta.Store, repo string, m *meta.Manifest) *meta.Manifest {
	t.Helper()
	got, err := s.GetManifest(t.Context(), repo, m.Digest)
	if err != nil {
		t.Fatalf("GetManifest(%q, %s): %v", repo, m.Digest, err)
	}
	if got.Digest != m.Digest {
		t.Errorf("GetManifest(%q, %s).Digest = %s", repo, m.Digest, got.Digest)
	}
	if got.MediaType != m.MediaType {
		t.Errorf("GetManifest(%q, %s).MediaType = %q, want %q", repo, m.Digest, got.MediaType, m.MediaType)
	}
	if got.ArtifactType != m.ArtifactType {
		t.Errorf("GetManifest(%q, %s).ArtifactType = %q, want %q", repo, m.Digest, got.ArtifactType, m.ArtifactType)
	}
	if got.Subject != m.Subject {
		t.Errorf("GetManifest(%q, %s).Subject = %q, want %q", repo, m.Digest, got.Subject, m.Subject)
	}
	if !bytes.Equal(got.Annotations, m.Annotations) || (got.Annotations == nil) != (m.Annotations == nil) {
		t.Errorf("GetManifest(%q, %s).Annotations = %q (nil %t), want %q (nil %t)",
			repo, m.Digest, got.Annotations, got.Annotations == nil, m.Annotations, m.Annotations == nil)
	}
	if !bytes.Equal(got.Payload, m.Payload) {
		t.Errorf("GetManifest(%q, %s).Payload = %q, want %q", repo, m.Digest, got.Payload, m.Payload)
	}
	return got
}

func listTags(t *testing.T, s meta.Store, repo, last string, n int) []string {
	t.Helper()
	tags, err := s.Tags(t.Context(), repo, last, n)
	if err != nil {
		t.Fatalf("Tags(%q, %q, %d): %v", repo, last, n, err)
	}
	return tags
}

func listRepos(t *testing.T, s meta.Store, last string, n int) []string {
	t.Helper()
	repos, err := s.Repositories(t.Context(), last, n)
	if err != nil {
		t.Fatalf("Repositories(%q, %d): %v", last, n, err)
	}
	return repos
}

func repoExists(t *testing.T, s meta.Store, repo string) bool {
	t.Helper()
	ok, err := s.RepoExists(t.Context(), repo)
	if err != nil {
		t.Fatalf("RepoExists(%q): %v", repo, err)
	}
	return ok
}

// checkNear asserts ts was taken between start and now, with slack for
// stores that keep milliseconds.
func checkNear(t *testing.T, what string, ts, start time.Time) {
	t.Helper()
	if ts.Before(start.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("%s = %v, want a time between %v and now", what, ts, start)
	}
}

func testCommitBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := commitBlob(t, s, "library/alpine", "layer", 1234)
	checkRepoBlob(t, s, "library/alpine", d, 1234)
	if size, err := s.BlobSize(ctx, d); err != nil || size != 1234 {
		t.Errorf("BlobSize(%s) = %d, %v; want 1234, nil", d, size, err)
	}
	_, err := s.BlobSize(ctx, blobDigest("unknown"))
	wantNotFound(t, "BlobSize of an unknown blob", err)
	checkNoRepoBlob(t, s, "library/alpine", blobDigest("unknown"))
	if !repoExists(t, s, "library/alpine") {
		t.Errorf("RepoExists after CommitBlob = false, want true")
	}

	// Committing again, and in another repository, is fine and keeps the size.
	if err := s.CommitBlob(ctx, "library/alpine", d, 1234, "", nil); err != nil {
		t.Errorf("CommitBlob again: %v", err)
	}
	if err := s.CommitBlob(ctx, "other", d, 1234, "", nil); err != nil {
		t.Errorf("CommitBlob in a second repository: %v", err)
	}
	checkRepoBlob(t, s, "library/alpine", d, 1234)
	checkRepoBlob(t, s, "other", d, 1234)

	// A zero-size blob is a blob.
	empty := commitBlob(t, s, "library/alpine", "empty", 0)
	checkRepoBlob(t, s, "library/alpine", empty, 0)
}

func testRepoBlobSizeOtherRepo(t *testing.T, s meta.Store) {
	d := commitBlob(t, s, "a", "only-in-a", 10)
	checkNoRepoBlob(t, s, "b", d) // b does not exist
	commitBlob(t, s, "b", "only-in-b", 20)
	checkNoRepoBlob(t, s, "b", d) // b exists but lacks d
	checkNoRepoBlob(t, s, "a", blobDigest("only-in-b"))
	checkRepoBlob(t, s, "a", d, 10)
}

func testLinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	err := s.LinkBlob(ctx, "mount/target", blobDigest("unknown"))
	wantNotFound(t, "LinkBlob of an unknown blob", err)
	if repoExists(t, s, "mount/target") {
		t.Errorf("a failed LinkBlob created the repository")
	}

	d := commitBlob(t, s, "mount/source", "shared", 4242)
	if err := s.LinkBlob(ctx, "mount/target", d); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	checkRepoBlob(t, s, "mount/target", d, 4242)
	checkRepoBlob(t, s, "mount/source", d, 4242)
	if !repoExists(t, s, "mount/target") {
		t.Errorf("RepoExists after LinkBlob = false, want true")
	}
	if err := s.LinkBlob(ctx, "mount/target", d); err != nil {
		t.Errorf("LinkBlob again: %v; want nil", err)
	}
	checkRepoBlob(t, s, "mount/target", d, 4242)
}

func testUnlinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := commitBlob(t, s, "a", "shared", 77)
	commitBlob(t, s, "b", "shared", 77)
	keep := commitBlob(t, s, "a", "keep", 5)

	if err := s.UnlinkBlob(ctx, "a", d); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	checkNoRepoBlob(t, s, "a", d)
	checkRepoBlob(t, s, "b", d, 77)
	checkRepoBlob(t, s, "a", keep, 5)
	if size, err := s.BlobSize(ctx, d); err != nil || size != 77 {
		t.Errorf("BlobSize after unlink = %d, %v; want 77, nil (the blob itself stays)", size, err)
	}

	wantNotFound(t, "UnlinkBlob again", s.UnlinkBlob(ctx, "a", d))
	wantNotFound(t, "UnlinkBlob in an unknown repository", s.UnlinkBlob(ctx, "nowhere", d))
	wantNotFound(t, "UnlinkBlob of an unknown blob", s.UnlinkBlob(ctx, "a", blobDigest("unknown")))

	// Linking back works.
	if err := s.LinkBlob(ctx, "a", d); err != nil {
		t.Fatalf("LinkBlob after unlink: %v", err)
	}
	checkRepoBlob(t, s, "a", d, 77)
}

func testCommitBlobEndsUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, id := range []string{"up-1", "up-2"} {
		if err := s.CreateUpload(ctx, &meta.Upload{ID: id, Repo: "r", HashState: []byte("h")}); err != nil {
			t.Fatalf("CreateUpload(%q): %v", id, err)
		}
	}
	d := blobDigest("uploaded")
	if err := s.CommitBlob(ctx, "r", d, 99, "up-1", nil); err != nil {
		t.Fatalf("CommitBlob with upload: %v", err)
	}
	_, err := s.GetUpload(ctx, "", "up-1")
	wantNotFound(t, "GetUpload after CommitBlob ended it", err)
	if u, err := s.GetUpload(ctx, "r", "up-2"); err != nil || u.ID != "up-2" {
		t.Errorf("GetUpload of the other upload = %+v, %v; want it untouched", u, err)
	}
	checkRepoBlob(t, s, "r", d, 99)

	// An upload id with no session does not make the commit fail.
	d2 := blobDigest("uploaded-2")
	if err := s.CommitBlob(ctx, "r", d2, 3, "no-such-upload", nil); err != nil {
		t.Errorf("CommitBlob with an unknown upload id: %v; want nil", err)
	}
	checkRepoBlob(t, s, "r", d2, 3)
}

// sortedRefs returns refs sorted by digest, for comparisons as sets.
func sortedRefs(refs []meta.Ref) []meta.Ref {
	out := slices.Clone(refs)
	slices.SortFunc(out, func(a, b meta.Ref) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out
}

// checkMissing asserts err is a *meta.MissingRefsError naming exactly want.
func checkMissing(t *testing.T, err error, want ...meta.Ref) {
	t.Helper()
	var mre *meta.MissingRefsError
	if !errors.As(err, &mre) {
		t.Fatalf("PutManifest error = %v (%T); want *meta.MissingRefsError", err, err)
	}
	if got := sortedRefs(mre.Refs); !slices.Equal(got, sortedRefs(want)) {
		t.Errorf("MissingRefsError.Refs = %v, want %v", got, sortedRefs(want))
	}
	if mre.Error() == "" {
		t.Errorf("MissingRefsError.Error() is empty")
	}
}

func testPutManifestMissingRefs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	present := commitBlob(t, s, "app", "present", 10)
	elsewhere := commitBlob(t, s, "other", "elsewhere", 20) // in another repo only
	config := blobDigest("config-never-pushed")
	layer := blobDigest("layer-never-pushed")

	m := image("missing", config, present, layer, elsewhere)
	err := s.PutManifest(ctx, "app", m, "v1")
	checkMissing(t, err,
		meta.Ref{Digest: config, Kind: meta.RefBlob},
		meta.Ref{Digest: layer, Kind: meta.RefBlob},
		meta.Ref{Digest: elsewhere, Kind: meta.RefBlob})
	checkNoManifest(t, s, "app", m.Digest)
	checkNoTag(t, s, "app", "v1")
	if tags := listTags(t, s, "app", "", -1); len(tags) != 0 {
		t.Errorf("Tags after a failed PutManifest = %v, want none", tags)
	}

	// In a repository that did not exist, nothing at all is left behind.
	err = s.PutManifest(ctx, "brand-new", m, "v1")
	checkMissing(t, err,
		meta.Ref{Digest: config, Kind: meta.RefBlob},
		meta.Ref{Digest: present, Kind: meta.RefBlob},
		meta.Ref{Digest: layer, Kind: meta.RefBlob},
		meta.Ref{Digest: elsewhere, Kind: meta.RefBlob})
	if repoExists(t, s, "brand-new") {
		t.Errorf("a failed PutManifest created the repository")
	}
	if got, want := listRepos(t, s, "", -1), []string{"app", "other"}; !slices.Equal(got, want) {
		t.Errorf("Repositories = %v, want %v", got, want)
	}
	checkNoManifest(t, s, "brand-new", m.Digest)

	// Once the blobs are there, the same manifest goes in.
	commitBlob(t, s, "app", "config-never-pushed", 1)
	commitBlob(t, s, "app", "layer-never-pushed", 2)
	if err := s.LinkBlob(ctx, "app", elsewhere); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	put(t, s, "app", m, "v1")
	checkTag(t, s, "app", "v1", m.Digest)
}

func testPutManifestRoundTrip(t *testing.T, s meta.Store) {
	start := time.Now()
	cfg := commitBlob(t, s, "rt", "config", 100)
	layer := commitBlob(t, s, "rt", "layer", 2000)
	subject := digest.FromString("some subject manifest")

	full := image("full", cfg, layer)
	full.ArtifactType = "application/vnd.example.sbom.v1+json"
	full.Subject = subject
	full.Annotations = []byte(`{"org.opencontainers.image.title":"caf\u00e9 ☕","k":"v"}`)
	put(t, s, "rt", full, "v1.0")
	checkTag(t, s, "rt", "v1.0", full.Digest)
	got := checkManifest(t, s, "rt", full)
	checkNear(t, "CreatedAt", got.CreatedAt, start)

	// No subject, no annotations, no tag.
	bare := image("bare", cfg)
	put(t, s, "rt", bare, "")
	checkManifest(t, s, "rt", bare)
	if tags := listTags(t, s, "rt", "", -1); !slices.Equal(tags, []string{"v1.0"}) {
		t.Errorf("Tags = %v, want [v1.0] (an untagged put adds no tag)", tags)
	}

	// A manifest with no references at all, in a new repository.
	noRefs := image("no-refs")
	put(t, s, "rt-new", noRefs, "latest")
	checkManifest(t, s, "rt-new", noRefs)
	checkTag(t, s, "rt-new", "latest", noRefs.Digest)

	// Manifests are per repository.
	checkNoManifest(t, s, "rt-new", full.Digest)
	checkNoTag(t, s, "rt-new", "v1.0")
	checkNoTag(t, s, "rt", "latest")
	checkNoManifest(t, s, "nowhere", full.Digest)
	checkNoTag(t, s, "nowhere", "v1.0")
}

func testPutManifestIdempotent(t *testing.T, s meta.Store) {
	cfg := commitBlob(t, s, "idem", "config", 1)
	m := image("idem", cfg)
	m.Annotations = []byte(`{"a":"b"}`)
	put(t, s, "idem", m, "v1")
	put(t, s, "idem", m, "v1")
	put(t, s, "idem", m, "")
	put(t, s, "idem", m, "latest")
	checkManifest(t, s, "idem", m)
	checkTag(t, s, "idem", "v1", m.Digest)
	checkTag(t, s, "idem", "latest", m.Digest)
	if tags := listTags(t, s, "idem", "", -1); !slices.Equal(tags, []string{"latest", "v1"}) {
		t.Errorf("Tags = %v, want [latest v1]", tags)
	}
	// One delete removes it: it was stored once.
	if err := deleteManifest(s, t.Context(), "idem", m.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	checkNoManifest(t, s, "idem", m.Digest)
}

func testMoveTag(t *testing.T, s meta.Store) {
	cfg := commitBlob(t, s, "mv", "config", 1)
	m1, m2 := image("one", cfg), image("two", cfg)
	put(t, s, "mv", m1, "latest")
	put(t, s, "mv", m1, "stable")
	put(t, s, "mv", m2, "latest")
	checkTag(t, s, "mv", "latest", m2.Digest)
	checkTag(t, s, "mv", "stable", m1.Digest)
	checkManifest(t, s, "mv", m1) // the old target stays, untagged by latest
	checkManifest(t, s, "mv", m2)
	if tags := listTags(t, s, "mv", "", -1); !slices.Equal(tags, []string{"latest", "stable"}) {
		t.Errorf("Tags = %v, want [latest stable]", tags)
	}
	// And back.
	put(t, s, "mv", m1, "latest")
	checkTag(t, s, "mv", "latest", m1.Digest)
}

func testIndexChildren(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfgA := commitBlob(t, s, "multi", "config", 1)
	amd64, arm64 := image("amd64", cfgA), image("arm64", cfgA)
	idx := index("idx", amd64, arm64)

	// No children yet.
	checkMissing(t, s.PutManifest(ctx, "multi", idx, "latest"),
		meta.Ref{Digest: amd64.Digest, Kind: meta.RefManifest},
		meta.Ref{Digest: arm64.Digest, Kind: meta.RefManifest})
	put(t, s, "multi", amd64, "")
	checkMissing(t, s.PutManifest(ctx, "multi", idx, "latest"),
		meta.Ref{Digest: arm64.Digest, Kind: meta.RefManifest})
	checkNoTag(t, s, "multi", "latest")
	put(t, s, "multi", arm64, "")
	put(t, s, "multi", idx, "latest")
	checkTag(t, s, "multi", "latest", idx.Digest)
	checkManifest(t, s, "multi", idx)

	// Children in another repository do not count.
	commitBlob(t, s, "elsewhere", "config", 1)
	checkMissing(t, s.PutManifest(ctx, "elsewhere", idx, "latest"),
		meta.Ref{Digest: amd64.Digest, Kind: meta.RefManifest},
		meta.Ref{Digest: arm64.Digest, Kind: meta.RefManifest})
	checkNoManifest(t, s, "elsewhere", idx.Digest)

	// An index of indexes.
	outer := index("outer", idx)
	put(t, s, "multi", outer, "all")
	checkTag(t, s, "multi", "all", outer.Digest)
}

func testRefKindMatters(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "kinds", "config", 1)
	child := image("child", cfg)
	put(t, s, "kinds", child, "")

	// A manifest does not satisfy a blob reference with its digest...
	asBlob := image("child-as-blob", child.Digest)
	checkMissing(t, s.PutManifest(ctx, "kinds", asBlob, ""),
		meta.Ref{Digest: child.Digest, Kind: meta.RefBlob})
	// ...and a blob does not satisfy a manifest reference.
	bogus := &meta.Manifest{
		Digest:    digest.FromString("index over a blob"),
		MediaType: mtIndex,
		Payload:   []byte("index over a blob"),
		Refs:      []meta.Ref{{Digest: cfg, Kind: meta.RefManifest}},
	}
	checkMissing(t, s.PutManifest(ctx, "kinds", bogus, ""),
		meta.Ref{Digest: cfg, Kind: meta.RefManifest})
}

func testDeleteManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "del", "config", 1)
	m1, m2 := image("one", cfg), image("two", cfg)
	put(t, s, "del", m1, "v1")
	put(t, s, "del", m1, "v2")
	put(t, s, "del", m2, "v3")

	if err := deleteManifest(s, ctx, "del", m1.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	checkNoManifest(t, s, "del", m1.Digest)
	checkNoTag(t, s, "del", "v1")
	checkNoTag(t, s, "del", "v2")
	checkTag(t, s, "del", "v3", m2.Digest)
	checkManifest(t, s, "del", m2)
	if tags := listTags(t, s, "del", "", -1); !slices.Equal(tags, []string{"v3"}) {
		t.Errorf("Tags after delete = %v, want [v3]", tags)
	}
	checkRepoBlob(t, s, "del", cfg, 1) // blob links are not the manifest's

	wantNotFound(t, "DeleteManifest again", deleteManifest(s, ctx, "del", m1.Digest))
	wantNotFound(t, "DeleteManifest of an unknown digest", deleteManifest(s, ctx, "del", digest.FromString("nope")))
	wantNotFound(t, "DeleteManifest in an unknown repository", deleteManifest(s, ctx, "nowhere", m2.Digest))

	// The deleted manifest, references and all, may be pushed again.
	put(t, s, "del", m1, "v1")
	checkManifest(t, s, "del", m1)
	checkTag(t, s, "del", "v1", m1.Digest)

	// Deleting a manifest in one repository leaves the same one in another.
	commitBlob(t, s, "del2", "config", 1)
	put(t, s, "del2", m1, "v1")
	if err := deleteManifest(s, ctx, "del", m1.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	checkManifest(t, s, "del2", m1)
	checkTag(t, s, "del2", "v1", m1.Digest)
}

func testGetTaggedManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "gt", "config", 1)
	m1, m2 := image("one", cfg), image("two", cfg)
	put(t, s, "gt", m1, "v1")
	put(t, s, "gt", m2, "v2")
	got, err := s.GetTaggedManifest(ctx, "gt", "v1")
	if err != nil {
		t.Fatalf("GetTaggedManifest(v1): %v", err)
	}
	if got.Digest != m1.Digest || string(got.Payload) != string(m1.Payload) || got.MediaType != m1.MediaType {
		t.Errorf("GetTaggedManifest(v1) = %s %q, want %s %q", got.Digest, got.MediaType, m1.Digest, m1.MediaType)
	}
	put(t, s, "gt", m2, "v1") // move the tag
	if got, err := s.GetTaggedManifest(ctx, "gt", "v1"); err != nil || got.Digest != m2.Digest {
		t.Errorf("GetTaggedManifest(v1) after moving it = %v, %v; want %s", got, err, m2.Digest)
	}
	_, err = s.GetTaggedManifest(ctx, "gt", "nope")
	wantNotFound(t, "GetTaggedManifest of an unknown tag", err)
	_, err = s.GetTaggedManifest(ctx, "nowhere", "v1")
	wantNotFound(t, "GetTaggedManifest in an unknown repository", err)
}

func testDeleteTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "dt", "config", 1)
	m := image("m", cfg)
	put(t, s, "dt", m, "v1")
	put(t, s, "dt", m, "v2")
	commitBlob(t, s, "dt2", "config", 1)
	put(t, s, "dt2", m, "v1")

	if err := s.DeleteTag(ctx, "dt", "v1"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	checkNoTag(t, s, "dt", "v1")
	checkTag(t, s, "dt", "v2", m.Digest)
	checkTag(t, s, "dt2", "v1", m.Digest)
	checkManifest(t, s, "dt", m) // the manifest stays

	wantNotFound(t, "DeleteTag again", s.DeleteTag(ctx, "dt", "v1"))
	wantNotFound(t, "DeleteTag of an unknown tag", s.DeleteTag(ctx, "dt", "never"))
	wantNotFound(t, "DeleteTag in an unknown repository", s.DeleteTag(ctx, "nowhere", "v2"))
}

// byteOrderNames are valid tag names whose byte order differs from most
// locale collations: upper case before lower case, '-' < '.' < digits < '_';
// "v1" and "V1" are two tags.
var byteOrderNames = []string{"latest", "v1", "V1", "V2", "1.0", "1.0-rc", "1.0.1", "_build", "Z", "a", "a-b", "a.b", "a_b", "ab"}

// checkPaging asserts list pages through want (sorted) correctly.
func checkPaging(t *testing.T, what string, want []string, list func(last string, n int) []string) {
	t.Helper()
	check := func(last string, n int, want []string) {
		t.Helper()
		got := list(last, n)
		if got == nil {
			t.Errorf("%s(last %q, n %d) = nil, want a non-nil slice", what, last, n)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s(last %q, n %d) = %q, want %q", what, last, n, got, want)
		}
	}
	check("", -1, want)
	check("", -7, want)
	check("", len(want)+5, want)
	check("", len(want), want)
	check("", 3, want[:3])
	check("", 0, []string{})
	check(want[2], 3, want[3:6])
	check(want[2], -1, want[3:])
	check(want[len(want)-2], 10, want[len(want)-1:])
	check(want[len(want)-1], 10, []string{})
	check(want[len(want)-1], -1, []string{})
	check("\xff", -1, []string{})
	// last need not be a listed name: the next page starts after it.
	check(want[1]+"\x00", 2, want[2:4])

	// Paging with n = 2 visits every name once, in order.
	var all []string
	last := ""
	for range len(want) + 1 {
		page := list(last, 2)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		last = page[len(page)-1]
	}
	if !slices.Equal(all, want) {
		t.Errorf("%s paged by 2 = %q, want %q", what, all, want)
	}
}

func testTags(t *testing.T, s meta.Store) {
	cfg := commitBlob(t, s, "tagged", "config", 1)
	m1, m2 := image("one", cfg), image("two", cfg)
	for i, tag := range byteOrderNames {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		put(t, s, "tagged", m, tag)
	}
	// Tags of another repository do not leak in.
	commitBlob(t, s, "tagged-other", "config", 1)
	put(t, s, "tagged-other", m1, "zzz-other")
	put(t, s, "tagged-other", m1, "0-other")

	want := slices.Clone(byteOrderNames)
	slices.Sort(want) // Go compares strings bytewise
	checkPaging(t, "Tags", want, func(last string, n int) []string {
		return listTags(t, s, "tagged", last, n)
	})

	// A repository without tags lists none, as an empty slice.
	commitBlob(t, s, "untagged", "config", 1)
	if tags := listTags(t, s, "untagged", "", -1); tags == nil || len(tags) != 0 {
		t.Errorf("Tags of an untagged repository = %#v, want []string{}", tags)
	}
}

func testRepositories(t *testing.T, s meta.Store) {
	if repos := listRepos(t, s, "", -1); repos == nil || len(repos) != 0 {
		t.Errorf("Repositories of an empty store = %#v, want []string{}", repos)
	}
	names := []string{"library/ubuntu", "a", "a-b", "a.b", "a/b", "a_b", "ab", "a/b/c", "z", "0day", "library/alpine"}
	for i, name := range names {
		if i%2 == 0 {
			commitBlob(t, s, name, "config", 1)
		} else {
			put(t, s, name, image("m"), "latest")
		}
	}
	want := slices.Clone(names)
	slices.Sort(want)
	checkPaging(t, "Repositories", want, func(last string, n int) []string {
		return listRepos(t, s, last, n)
	})
}

func testRepoExists(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if repoExists(t, s, "r") {
		t.Errorf("RepoExists of an empty store = true")
	}
	commitBlob(t, s, "by-blob", "x", 1)
	put(t, s, "by-manifest", image("m"), "")
	if err := s.LinkBlob(ctx, "by-mount", blobDigest("x")); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	for _, repo := range []string{"by-blob", "by-manifest", "by-mount"} {
		if !repoExists(t, s, repo) {
			t.Errorf("RepoExists(%q) = false, want true", repo)
		}
	}
	for _, repo := range []string{"by", "by-blob/sub", "BY-BLOB", "by-blo"} {
		if repoExists(t, s, repo) {
			t.Errorf("RepoExists(%q) = true, want false", repo)
		}
	}
	// An upload session alone is not content.
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "u", Repo: "by-upload"}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if repoExists(t, s, "by-upload") {
		t.Errorf("RepoExists after only CreateUpload = true, want false")
	}
}

func testReferrers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "app", "config", 1)
	subject := image("subject", cfg)
	put(t, s, "app", subject, "v1")

	sbom := image("sbom", cfg)
	sbom.Subject = subject.Digest
	sbom.ArtifactType = "application/vnd.example.sbom.v1+json"
	sbom.Annotations = []byte(`{"org.opencontainers.image.created":"2024-01-02T03:04:05Z","note":"h\u00e9llo ✓"}`)
	sbom.Payload = append(sbom.Payload, []byte(` héllo ✓ `)...) // multi-byte: Size counts bytes
	sbom.Digest = digest.FromBytes(sbom.Payload)

	sig := image("signature-with-a-longer-payload", cfg)
	sig.Subject = subject.Digest
	sig.ArtifactType = "application/vnd.example.signature"

	unrelated := image("unrelated", cfg)
	otherSubject := image("other-subject", cfg)
	otherSubject.Subject = digest.FromString("another subject")
	for _, m := range []*meta.Manifest{sbom, sig, unrelated, otherSubject} {
		put(t, s, "app", m, "")
	}
	// The same referrer in another repository is not app's.
	commitBlob(t, s, "other", "config", 1)
	elsewhere := image("elsewhere", cfg)
	elsewhere.Subject = subject.Digest
	put(t, s, "other", elsewhere, "")

	refs, err := s.Referrers(ctx, "app", subject.Digest)
	if err != nil {
		t.Fatalf("Referrers: %v", err)
	}
	slices.SortFunc(refs, func(a, b meta.Referrer) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	var want []meta.Referrer
	for _, m := range []*meta.Manifest{sbom, sig} {
		want = append(want, meta.Referrer{
			Digest:       m.Digest,
			MediaType:    m.MediaType,
			ArtifactType: m.ArtifactType,
			Size:         int64(len(m.Payload)),
			Annotations:  m.Annotations,
		})
	}
	slices.SortFunc(want, func(a, b meta.Referrer) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	if len(refs) != len(want) {
		t.Fatalf("Referrers = %+v, want %d: %+v", refs, len(want), want)
	}
	for i := range want {
		g, w := refs[i], want[i]
		if g.Digest != w.Digest || g.MediaType != w.MediaType || g.ArtifactType != w.ArtifactType ||
			g.Size != w.Size || !bytes.Equal(g.Annotations, w.Annotations) || (g.Annotations == nil) != (w.Annotations == nil) {
			t.Errorf("Referrers[%d] = {%s %q %q %d %q}, want {%s %q %q %d %q}", i,
				g.Digest, g.MediaType, g.ArtifactType, g.Size, g.Annotations,
				w.Digest, w.MediaType, w.ArtifactType, w.Size, w.Annotations)
		}
	}

	// No referrers: an empty list, not an error.
	if refs, err := s.Referrers(ctx, "app", unrelated.Digest); err != nil || len(refs) != 0 {
		t.Errorf("Referrers of a manifest nobody refers to = %+v, %v; want none", refs, err)
	}
	if refs, err := s.Referrers(ctx, "nowhere", subject.Digest); err != nil || len(refs) != 0 {
		t.Errorf("Referrers in an unknown repository = %+v, %v; want none", refs, err)
	}
	// A subject that is not (yet) stored still has its referrers listed.
	refs, err = s.Referrers(ctx, "app", otherSubject.Subject)
	if err != nil || len(refs) != 1 || refs[0].Digest != otherSubject.Digest {
		t.Errorf("Referrers of an absent subject = %+v, %v; want [%s]", refs, err, otherSubject.Digest)
	}

	// A deleted referrer is no longer listed.
	if err := deleteManifest(s, ctx, "app", sig.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	refs, err = s.Referrers(ctx, "app", subject.Digest)
	if err != nil || len(refs) != 1 || refs[0].Digest != sbom.Digest {
		t.Errorf("Referrers after deleting one = %+v, %v; want [%s]", refs, err, sbom.Digest)
	}
}

func testCreateGetUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	start := time.Now()
	state := []byte{0, 1, 2, 0xff, 'h', 's'}
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "u-1", Repo: "library/app", Offset: 0, HashState: state}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "u-2", Repo: "other"}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	for _, repo := range []string{"library/app", ""} {
		u, err := s.GetUpload(ctx, repo, "u-1")
		if err != nil {
			t.Fatalf("GetUpload(%q, u-1): %v", repo, err)
		}
		if u.ID != "u-1" || u.Repo != "library/app" || u.Offset != 0 || !bytes.Equal(u.HashState, state) {
			t.Errorf("GetUpload(%q, u-1) = {ID %q Repo %q Offset %d HashState %x}, want {u-1 library/app 0 %x}",
				repo, u.ID, u.Repo, u.Offset, u.HashState, state)
		}
		checkNear(t, "CreatedAt", u.CreatedAt, start)
		checkNear(t, "UpdatedAt", u.UpdatedAt, start)
	}
	_, err := s.GetUpload(ctx, "other", "u-1")
	wantNotFound(t, "GetUpload from another repository", err)
	_, err = s.GetUpload(ctx, "library/app", "u-2")
	wantNotFound(t, "GetUpload from another repository", err)
	_, err = s.GetUpload(ctx, "", "unknown")
	wantNotFound(t, "GetUpload of an unknown id", err)
	_, err = s.GetUpload(ctx, "library/app", "unknown")
	wantNotFound(t, "GetUpload of an unknown id", err)

	if err := s.CreateUpload(ctx, &meta.Upload{ID: "u-1", Repo: "library/app"}); err == nil {
		t.Errorf("CreateUpload of an existing id succeeded; want an error")
	}
	if u, err := s.GetUpload(ctx, "", "u-1"); err != nil || !bytes.Equal(u.HashState, state) {
		t.Errorf("after a duplicate CreateUpload, GetUpload = %+v, %v; want the first session intact", u, err)
	}
}

func testAdvanceUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "adv", Repo: "r", HashState: []byte("s0")}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	check := func(offset int64, state string) {
		t.Helper()
		u, err := s.GetUpload(ctx, "r", "adv")
		if err != nil {
			t.Fatalf("GetUpload: %v", err)
		}
		if u.Offset != offset || string(u.HashState) != state {
			t.Errorf("upload = offset %d state %q, want offset %d state %q", u.Offset, u.HashState, offset, state)
		}
		if u.UpdatedAt.Before(u.CreatedAt) {
			t.Errorf("UpdatedAt %v before CreatedAt %v", u.UpdatedAt, u.CreatedAt)
		}
	}

	if err := s.AdvanceUpload(ctx, "adv", 0, 100, []byte("s100"), []byte("parts:1"), nil); err != nil {
		t.Fatalf("AdvanceUpload(0 -> 100): %v", err)
	}
	check(100, "s100")
	if u, err := s.GetUpload(ctx, "r", "adv"); err != nil || string(u.BackendState) != "parts:1" {
		t.Errorf("BackendState after AdvanceUpload = %q, %v; want %q", u.BackendState, err, "parts:1")
	}

	err := s.AdvanceUpload(ctx, "adv", 0, 50, []byte("stale"), nil, nil)
	if !errors.Is(err, meta.ErrConflict) {
		t.Errorf("AdvanceUpload with a stale from: %v; want meta.ErrConflict", err)
	}
	check(100, "s100")
	err = s.AdvanceUpload(ctx, "adv", 150, 200, []byte("ahead"), nil, nil)
	if !errors.Is(err, meta.ErrConflict) {
		t.Errorf("AdvanceUpload with a from ahead of the offset: %v; want meta.ErrConflict", err)
	}
	check(100, "s100")

	if err := s.AdvanceUpload(ctx, "adv", 100, 1<<33, []byte("big"), nil, nil); err != nil {
		t.Fatalf("AdvanceUpload(100 -> 8 GiB): %v", err)
	}
	check(1<<33, "big")

	if err := s.AdvanceUpload(ctx, "missing", 0, 10, []byte("x"), nil, nil); err == nil {
		t.Errorf("AdvanceUpload of an unknown upload succeeded; want an error")
	} else if !errors.Is(err, meta.ErrConflict) && !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("AdvanceUpload of an unknown upload: %v; want meta.ErrNotFound or meta.ErrConflict", err)
	}
}

// An upload's bytes may live in its row while small, and move to the blob
// store (content nil) when it grows.
func testInlineUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "inl", Repo: "r", HashState: []byte("s0")}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	checkContent := func(want []byte) {
		t.Helper()
		u, err := s.GetUpload(ctx, "r", "inl")
		if err != nil {
			t.Fatalf("GetUpload: %v", err)
		}
		if (u.Content == nil) != (want == nil) || !bytes.Equal(u.Content, want) {
			t.Errorf("upload content = %q (nil: %v), want %q (nil: %v)", u.Content, u.Content == nil, want, want == nil)
		}
	}
	checkContent(nil)
	if err := s.AdvanceUpload(ctx, "inl", 0, 3, []byte("s3"), nil, []byte("abc")); err != nil {
		t.Fatalf("AdvanceUpload with content: %v", err)
	}
	checkContent([]byte("abc"))
	if err := s.AdvanceUpload(ctx, "inl", 3, 6, []byte("s6"), nil, []byte("abcdef")); err != nil {
		t.Fatalf("AdvanceUpload with more content: %v", err)
	}
	checkContent([]byte("abcdef"))
	if err := s.AdvanceUpload(ctx, "inl", 6, 1<<20, []byte("s1m"), []byte("parts"), nil); err != nil {
		t.Fatalf("AdvanceUpload moving the bytes to the blob store: %v", err)
	}
	checkContent(nil)
}

// A blob committed inline serves its bytes from its row, survives a second
// commit of the same digest through the blob store, and lists with them.
func testInlineBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	content := []byte(`{"architecture":"amd64","os":"linux"}`)
	d := digest.FromBytes(content)
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "up-inline", Repo: "r"}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if err := s.CommitInlineBlob(ctx, "r", d, content, "up-inline"); err != nil {
		t.Fatalf("CommitInlineBlob: %v", err)
	}
	if _, err := s.GetUpload(ctx, "r", "up-inline"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("GetUpload after CommitInlineBlob ended it: %v; want meta.ErrNotFound", err)
	}
	checkRepoBlob(t, s, "r", d, int64(len(content)))
	checkInline := func(repo string, d digest.Digest, want []byte) {
		t.Helper()
		size, got, err := s.RepoBlob(ctx, repo, d)
		if err != nil {
			t.Fatalf("RepoBlob(%q, %s): %v", repo, d, err)
		}
		if (got == nil) != (want == nil) || !bytes.Equal(got, want) || size != int64(len(got)) && want != nil {
			t.Errorf("RepoBlob(%q, %s) = %d, %q (nil: %v); want %q (nil: %v)", repo, d, size, got, got == nil, want, want == nil)
		}
	}
	checkInline("r", d, content)

	// Pushed again through the blob store (in another repository): the
	// row keeps its inline bytes, which are the same.
	if err := s.CommitBlob(ctx, "other", d, int64(len(content)), "", nil); err != nil {
		t.Fatalf("CommitBlob of an inline blob: %v", err)
	}
	checkInline("other", d, content)

	// A blob in the blob store has no inline bytes; an empty inline blob
	// has empty, not missing, bytes.
	stored := commitBlob(t, s, "r", "stored", 77)
	checkInline("r", stored, nil)
	empty := digest.FromBytes(nil)
	if err := s.CommitInlineBlob(ctx, "r", empty, []byte{}, ""); err != nil {
		t.Fatalf("CommitInlineBlob of the empty blob: %v", err)
	}
	checkInline("r", empty, []byte{})
	_, _, err := s.RepoBlob(ctx, "nowhere", d)
	wantNotFound(t, "RepoBlob in an unknown repository", err)

	page, err := s.BlobPage(ctx, "", 100)
	if err != nil {
		t.Fatalf("BlobPage: %v", err)
	}
	found := map[digest.Digest][]byte{}
	for _, b := range page {
		found[b.Digest] = b.Content
	}
	if got := found[d]; !bytes.Equal(got, content) {
		t.Errorf("BlobPage content of the inline blob = %q, want %q", got, content)
	}
	if got, ok := found[stored]; !ok || got != nil {
		t.Errorf("BlobPage content of a stored blob = %q (listed: %v), want nil", got, ok)
	}
	if got, ok := found[empty]; !ok || got == nil {
		t.Errorf("BlobPage content of the empty inline blob = %v (listed: %v), want empty, not nil", got, ok)
	}
}

func testDeleteUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, id := range []string{"d-1", "d-2"} {
		if err := s.CreateUpload(ctx, &meta.Upload{ID: id, Repo: "r"}); err != nil {
			t.Fatalf("CreateUpload(%q): %v", id, err)
		}
	}
	if err := s.DeleteUpload(ctx, "d-1"); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	_, err := s.GetUpload(ctx, "", "d-1")
	wantNotFound(t, "GetUpload after DeleteUpload", err)
	if _, err := s.GetUpload(ctx, "", "d-2"); err != nil {
		t.Errorf("GetUpload of the other upload: %v", err)
	}
	wantNotFound(t, "DeleteUpload again", s.DeleteUpload(ctx, "d-1"))
	wantNotFound(t, "DeleteUpload of an unknown id", s.DeleteUpload(ctx, "unknown"))
	// The id may be reused.
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "d-1", Repo: "r2"}); err != nil {
		t.Errorf("CreateUpload of a deleted id: %v", err)
	}
}

func testStaleUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	stale := func(before time.Time) []meta.Upload {
		t.Helper()
		us, err := s.StaleUploads(ctx, before)
		if err != nil {
			t.Fatalf("StaleUploads(%v): %v", before, err)
		}
		slices.SortFunc(us, func(a, b meta.Upload) int { return strings.Compare(a.ID, b.ID) })
		return us
	}
	if us := stale(time.Now().Add(time.Hour)); len(us) != 0 {
		t.Errorf("StaleUploads of an empty store = %+v, want none", us)
	}
	start := time.Now()
	for _, u := range []meta.Upload{{ID: "s-1", Repo: "a"}, {ID: "s-2", Repo: "b"}, {ID: "s-3", Repo: "a"}} {
		if err := s.CreateUpload(ctx, &u); err != nil {
			t.Fatalf("CreateUpload(%q): %v", u.ID, err)
		}
	}
	if err := s.AdvanceUpload(ctx, "s-2", 0, 42, []byte("st"), nil, nil); err != nil {
		t.Fatalf("AdvanceUpload: %v", err)
	}
	if err := s.DeleteUpload(ctx, "s-3"); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}

	if us := stale(time.Now().Add(-time.Hour)); len(us) != 0 {
		t.Errorf("StaleUploads(an hour ago) = %+v, want none (all are newer)", us)
	}
	us := stale(time.Now().Add(time.Hour))
	if len(us) != 2 {
		t.Fatalf("StaleUploads(in an hour) = %+v, want s-1 and s-2", us)
	}
	want := []struct {
		id, repo string
		offset   int64
	}{{"s-1", "a", 0}, {"s-2", "b", 42}}
	for i, w := range want {
		u := us[i]
		if u.ID != w.id || u.Repo != w.repo || u.Offset != w.offset {
			t.Errorf("StaleUploads[%d] = {%q %q %d}, want {%q %q %d}", i, u.ID, u.Repo, u.Offset, w.id, w.repo, w.offset)
		}
		checkNear(t, "StaleUploads CreatedAt", u.CreatedAt, start)
		checkNear(t, "StaleUploads UpdatedAt", u.UpdatedAt, start)
	}
}

// runBounded runs fn(i) for i in [0, n) on concurrency goroutines and waits.
func runBounded(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func testConcurrentPushes(t *testing.T, s meta.Store) {
	const n = 2 * concurrency
	shared := blobDigest("shared base layer")
	repoName := func(i int) string { return fmt.Sprintf("concurrent/repo-%02d", i) }
	manifests := make([]*meta.Manifest, n)
	runBounded(n, func(i int) {
		ctx := t.Context()
		repo := repoName(i)
		own := blobDigest(repo)
		for _, d := range []digest.Digest{shared, own} {
			if err := s.CommitBlob(ctx, repo, d, int64(len(d)), "", nil); err != nil {
				t.Errorf("CommitBlob(%q, %s): %v", repo, d, err)
				return
			}
		}
		m := image(repo, shared, own)
		manifests[i] = m
		if err := s.PutManifest(ctx, repo, m, "latest"); err != nil {
			t.Errorf("PutManifest(%q): %v", repo, err)
		}
	})
	var want []string
	for i, m := range manifests {
		repo := repoName(i)
		want = append(want, repo)
		checkTag(t, s, repo, "latest", m.Digest)
		checkRepoBlob(t, s, repo, shared, int64(len(shared)))
	}
	if got := listRepos(t, s, "", -1); !slices.Equal(got, want) {
		t.Errorf("Repositories = %v, want %v", got, want)
	}
}

func testConcurrentAdvance(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if err := s.CreateUpload(ctx, &meta.Upload{ID: "race", Repo: "r"}); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	results := make([]error, concurrency)
	runBounded(concurrency, func(i int) {
		results[i] = s.AdvanceUpload(ctx, "race", 0, int64(10+i), []byte(fmt.Sprint(i)), nil, nil)
	})
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("AdvanceUpload from 0 succeeded twice (%d and %d)", winner, i)
			}
			winner = i
		case !errors.Is(err, meta.ErrConflict):
			t.Errorf("AdvanceUpload %d: %v; want nil or meta.ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no AdvanceUpload from 0 succeeded")
	}
	u, err := s.GetUpload(ctx, "r", "race")
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	if u.Offset != int64(10+winner) || string(u.HashState) != fmt.Sprint(winner) {
		t.Errorf("upload = offset %d state %q, want the winner's: offset %d state %q",
			u.Offset, u.HashState, 10+winner, fmt.Sprint(winner))
	}
}

// deleteManifest deletes a manifest and the referrers of it.
func deleteManifest(s meta.Store, ctx context.Context, repo string, d digest.Digest) error {
	_, err := s.DeleteManifest(ctx, repo, d, false)
	return err
}

// optional marks every reference of m optional, as the registry does for
// sparse manifests.
func optional(m *meta.Manifest) *meta.Manifest {
	for i := range m.Refs {
		m.Refs[i].Optional = true
	}
	return m
}

// manifestRecord returns the Inspector's record of repo@d.
func manifestRecord(t *testing.T, s meta.Store, repo string, d digest.Digest) meta.ManifestRecord {
	t.Helper()
	page, err := s.ManifestPage(t.Context(), 0, "", 1000)
	if err != nil {
		t.Fatalf("ManifestPage: %v", err)
	}
	for _, m := range page {
		if m.Repo == repo && m.Digest == d {
			return m
		}
	}
	t.Fatalf("ManifestPage has no %s@%s", repo, d)
	return meta.ManifestRecord{}
}

// testSparseRefs: optional references may be absent, required ones may
// not, and the Inspector reads back which were absent at the push.
func testSparseRefs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "sparse", "config", 1)
	present := image("present", cfg)
	put(t, s, "sparse", present, "")
	absent := image("absent", cfg)
	idx := optional(index("idx", present, absent))
	put(t, s, "sparse", idx, "latest")
	checkTag(t, s, "sparse", "latest", idx.Digest)
	rec := manifestRecord(t, s, "sparse", idx.Digest)
	got := map[digest.Digest]bool{}
	for _, r := range rec.Refs {
		got[r.Digest] = r.Absent
	}
	if want := map[digest.Digest]bool{present.Digest: false, absent.Digest: true}; !maps.Equal(got, want) {
		t.Errorf("references read back (digest: absent) = %v, want %v", got, want)
	}

	// An image missing a layer, optional; a required reference still counts.
	layer := blobDigest("never pushed")
	put(t, s, "sparse", optional(image("layerless", cfg, layer)), "")
	mixed := image("mixed", cfg, layer, blobDigest("also never pushed"))
	mixed.Refs[1].Optional = true
	checkMissing(t, s.PutManifest(ctx, "sparse", mixed, "mixed"),
		meta.Ref{Digest: blobDigest("also never pushed"), Kind: meta.RefBlob})
	checkNoManifest(t, s, "sparse", mixed.Digest)
}

// collectAll runs garbage-collection reviews with no grace period and
// delete-untagged until nothing is due, and returns what they removed.
func collectAll(t *testing.T, s meta.Store) []meta.Removal {
	t.Helper()
	ctx := t.Context()
	var removed []meta.Removal
	for round := 0; round < 10; round++ {
		n := 0
		err := s.GC(ctx, true, func(tx meta.GCTx) error {
			cands, err := tx.Due(ctx, time.Now().Add(time.Hour), 64)
			if err != nil {
				return err
			}
			n = len(cands)
			for _, c := range cands {
				rs, err := tx.Review(ctx, c, meta.ReviewOptions{DeleteUntagged: true})
				if err != nil {
					return err
				}
				removed = append(removed, rs...)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		if n == 0 {
			return removed
		}
	}
	t.Fatalf("GC still had candidates after 10 rounds")
	return nil
}

// testSparseContentArrivesLater: a child manifest and a layer that a sparse
// index and image were pushed without, pushed later and untagged, are kept
// by the collector for as long as what references them is there.
func testSparseContentArrivesLater(t *testing.T, s meta.Store) {
	cfg := commitBlob(t, s, "late", "config", 1)
	child := image("child", cfg)
	put(t, s, "late", optional(index("idx", child)), "latest")
	layer := blobDigest("late layer")
	img := optional(image("img", cfg, layer))
	put(t, s, "late", img, "img")
	if rs := collectAll(t, s); len(rs) != 0 {
		t.Errorf("collector removed %+v while only sparse references existed", rs)
	}

	put(t, s, "late", child, "")
	commitBlob(t, s, "late", "late layer", 7)
	if rs := collectAll(t, s); len(rs) != 0 {
		t.Errorf("collector removed %+v, which sparse manifests reference", rs)
	}
	checkManifest(t, s, "late", child)
	checkRepoBlob(t, s, "late", layer, 7)

	// Once the index goes, so does the child.
	if err := deleteManifest(s, t.Context(), "late", index("idx", child).Digest); err != nil {
		t.Fatalf("DeleteManifest(index): %v", err)
	}
	rs := collectAll(t, s)
	if !slices.ContainsFunc(rs, func(r meta.Removal) bool { return r.Kind == meta.CandidateManifest && r.Digest == child.Digest }) {
		t.Errorf("collector removed %+v; want the child %s, no longer referenced", rs, child.Digest)
	}
	checkRepoBlob(t, s, "late", layer, 7)
}

// testPutManifestTags: several tags set in one push, moved from other
// manifests, all resolving to the manifest.
func testPutManifestTags(t *testing.T, s meta.Store) {
	cfg := commitBlob(t, s, "multi-tag", "config", 1)
	old, m := image("old", cfg), image("new", cfg)
	put(t, s, "multi-tag", old, "b")
	if err := s.PutManifestTags(t.Context(), "multi-tag", m, []string{"a", "b", "c"}); err != nil {
		t.Fatalf("PutManifestTags: %v", err)
	}
	for _, tag := range []string{"a", "b", "c"} {
		checkTag(t, s, "multi-tag", tag, m.Digest)
	}
	checkManifest(t, s, "multi-tag", old)
	if err := s.PutManifestTags(t.Context(), "multi-tag", old, nil); err != nil {
		t.Fatalf("PutManifestTags without tags: %v", err)
	}
	checkTag(t, s, "multi-tag", "b", m.Digest)
}

// forgetRemovals forgets every removal, as the collector does once they
// are old enough.
func forgetRemovals(t *testing.T, s meta.Store) {
	t.Helper()
	err := s.GC(t.Context(), true, func(tx meta.GCTx) error {
		_, err := tx.ForgetRemovals(t.Context(), time.Now().Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatalf("ForgetRemovals: %v", err)
	}
}

// testSparseNotLost: an optional reference to content the repository lost
// lately (the collector removed its link, a DELETE removed the manifest or
// the blob) is refused like a required one, until the removal is
// forgotten or the content comes back.
func testSparseNotLost(t *testing.T, s meta.Store) {
	ctx := t.Context()
	cfg := commitBlob(t, s, "lost", "config", 1)
	put(t, s, "lost", image("keeps-config", cfg), "keep")
	layer := commitBlob(t, s, "lost", "layer", 5)
	collectAll(t, s) // the unreferenced layer's link goes
	checkNoRepoBlob(t, s, "lost", layer)
	img := optional(image("uses-layer", cfg, layer))
	checkMissing(t, s.PutManifest(ctx, "lost", img, "v1"), meta.Ref{Digest: layer, Kind: meta.RefBlob, Optional: true})
	// Elsewhere the layer was never lost: sparse there.
	commitBlob(t, s, "other", "config", 1)
	put(t, s, "other", optional(image("uses-layer", cfg, layer)), "v1")

	// Deleted by a client, a blob and a manifest.
	mounted := commitBlob(t, s, "lost", "deleted layer", 3)
	if err := s.UnlinkBlob(ctx, "lost", mounted); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	child := image("child", cfg)
	put(t, s, "lost", child, "")
	if err := deleteManifest(s, ctx, "lost", child.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	checkMissing(t, s.PutManifest(ctx, "lost", optional(image("uses-deleted", cfg, mounted)), ""),
		meta.Ref{Digest: mounted, Kind: meta.RefBlob, Optional: true})
	checkMissing(t, s.PutManifest(ctx, "lost", optional(index("over-deleted", child)), ""),
		meta.Ref{Digest: child.Digest, Kind: meta.RefManifest, Optional: true})

	// The child pushed again: present, the index is whole.
	put(t, s, "lost", child, "")
	put(t, s, "lost", optional(index("over-deleted", child)), "idx")
	// The removals forgotten: sparse again.
	forgetRemovals(t, s)
	put(t, s, "lost", img, "v1")
	put(t, s, "lost", optional(image("uses-deleted", cfg, mounted)), "v2")
}

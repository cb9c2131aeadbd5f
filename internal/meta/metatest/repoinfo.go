package metatest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testRepoInfo checks descriptions, overviews and stars: set and read by
// name, batched reads with every name present, idempotent stars per user.
func testRepoInfo(t *testing.T, s meta.Store) {
	ctx := t.Context()
	desc, overview := "a web server", "# httpd\n\nServes *pages*."
	if err := s.SetRepoInfo(ctx, "lib/httpd", meta.RepoInfoUpdate{Description: &desc, Overview: &overview}); err != nil {
		t.Fatalf("SetRepoInfo: %v", err)
	}
	other := "changed"
	if err := s.SetRepoInfo(ctx, "lib/httpd", meta.RepoInfoUpdate{Description: &other}); err != nil {
		t.Fatalf("SetRepoInfo description only: %v", err)
	}
	if got, err := s.RepoOverview(ctx, "lib/httpd"); err != nil || got != overview {
		t.Fatalf("RepoOverview after a description-only update = %q, %v; want it kept", got, err)
	}
	if got, err := s.RepoOverview(ctx, "none"); err != nil || got != "" {
		t.Fatalf("RepoOverview(none) = %q, %v; want empty", got, err)
	}
	big := strings.Repeat("x", meta.MaxOverview+1)
	if err := s.SetRepoInfo(ctx, "lib/httpd", meta.RepoInfoUpdate{Overview: &big}); !errors.Is(err, meta.ErrTooLarge) {
		t.Fatalf("SetRepoInfo with a %d-byte overview: %v, want ErrTooLarge", len(big), err)
	}

	stars := []struct{ repo, user string }{
		{"lib/httpd", "alice"}, {"lib/httpd", "alice"}, {"lib/httpd", "bob"}, {"lib/nginx", "bob"},
	}
	for _, st := range stars {
		if err := s.Star(ctx, st.repo, st.user, true); err != nil {
			t.Fatalf("Star(%s, %s): %v", st.repo, st.user, err)
		}
	}
	if err := s.Star(ctx, "lib/nginx", "carol", false); err != nil {
		t.Fatalf("unstar never starred: %v", err)
	}
	if ok, err := s.Starred(ctx, "lib/httpd", "alice"); err != nil || !ok {
		t.Fatalf("Starred(httpd, alice) = %v, %v; want true", ok, err)
	}
	if ok, err := s.Starred(ctx, "lib/nginx", "alice"); err != nil || ok {
		t.Fatalf("Starred(nginx, alice) = %v, %v; want false", ok, err)
	}

	got, err := s.RepoInfo(ctx, []string{"lib/httpd", "lib/nginx", "lib/none"})
	if err != nil {
		t.Fatalf("RepoInfo: %v", err)
	}
	want := map[string]meta.RepoInfo{
		"lib/httpd": {Description: "changed", Stars: 2},
		"lib/nginx": {Stars: 1},
		"lib/none":  {},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("RepoInfo[%s] = %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("RepoInfo returned %d entries, want %d", len(got), len(want))
	}

	if err := s.Star(ctx, "lib/httpd", "alice", false); err != nil {
		t.Fatalf("unstar: %v", err)
	}
	got, err = s.RepoInfo(ctx, []string{"lib/httpd"})
	if err != nil || got["lib/httpd"].Stars != 1 {
		t.Fatalf("stars after alice unstarred = %+v, %v; want 1", got, err)
	}
	if got, err := s.RepoInfo(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("RepoInfo(nil) = %v, %v; want empty", got, err)
	}
}

// testNewestTag checks that the tag set last is the newest, also when an
// older tag is moved.
func testNewestTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if _, err := s.NewestTag(ctx, "r"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("NewestTag of a missing repository: %v, want ErrNotFound", err)
	}
	m1 := image("one", commitBlob(t, s, "r", "l1", 1))
	m2 := image("two", commitBlob(t, s, "r", "l2", 2))
	steps := []struct {
		m    *meta.Manifest
		tag  string
		want string
	}{{m1, "b", "b"}, {m2, "a", "a"}, {m1, "b", "b"}}
	for _, st := range steps {
		time.Sleep(3 * time.Millisecond) // updated_at is in milliseconds
		put(t, s, "r", st.m, st.tag)
		if got, err := s.NewestTag(ctx, "r"); err != nil || got != st.want {
			t.Fatalf("NewestTag after tagging %s = %q, %v; want %q", st.tag, got, err, st.want)
		}
	}
}

// testManifestDigests checks the paged listing of a repository's
// manifests, index children included, and nothing of another repository.
func testManifestDigests(t *testing.T, s meta.Store) {
	ctx := t.Context()
	child := image("child", commitBlob(t, s, "r", "l1", 1))
	put(t, s, "r", child, "")
	idx := index("idx", child)
	put(t, s, "r", idx, "v1")
	put(t, s, "other", image("else", commitBlob(t, s, "other", "l2", 2)), "v1")
	want := []string{string(child.Digest), string(idx.Digest)}
	slices.Sort(want)
	list := func(after string, n int) []string {
		got, err := s.ManifestDigests(ctx, "r", after, n)
		if err != nil {
			t.Fatalf("ManifestDigests: %v", err)
		}
		out := []string{}
		for _, d := range got {
			out = append(out, string(d))
		}
		return out
	}
	pages := []struct {
		after string
		n     int
		want  []string
	}{{"", -1, want}, {"", 10, want}, {"", 1, want[:1]}, {want[0], 10, want[1:]}, {want[1], 10, []string{}}}
	for _, p := range pages {
		if got := list(p.after, p.n); !slices.Equal(got, p.want) {
			t.Errorf("ManifestDigests(after %q, n %d) = %q, want %q", p.after, p.n, got, p.want)
		}
	}
	if got, err := s.ManifestDigests(ctx, "none", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ManifestDigests(none) = %v, %v; want none", got, err)
	}
}

package metatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testSearchRepositories checks ranking by name, description, tag and
// stars, case, LIKE's wildcards taken literally, short queries (below the
// trigram length), visibility globs, counts and paging.
func testSearchRepositories(t *testing.T, s meta.Store) {
	ctx := t.Context()
	names := []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd", "alpine",
		"a/b_c", "a/bxc", "a%b", "nginx", "tools/proxy", "tools/cache", "team/secret"}
	for _, name := range names {
		commitBlob(t, s, name, "config", 1)
	}
	descriptions := map[string]string{
		"tools/proxy": "A reverse proxy in front of the HTTPd servers",
		"tools/cache": "Caching Proxy",
		"nginx":       "web server",
	}
	for repo, d := range descriptions {
		if err := s.SetSearchDescription(ctx, repo, d); err != nil {
			t.Fatal(err)
		}
	}
	// Stars break ties within a rank: tools/cache outranks tools/proxy
	// for "proxy" by description, though both are there by description.
	for _, user := range []string{"ann", "bob"} {
		if err := s.Star(ctx, "tools/cache", user, true); err != nil {
			t.Fatal(err)
		}
	}
	layer := commitBlob(t, s, "team/secret", "layer", 3)
	put(t, s, "team/secret", image("secret", layer), "Release-2024")

	tests := []struct {
		query   string
		visible []string
		want    []string
	}{
		{"httpd", nil, []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd", "tools/proxy"}},
		{"HTTPD", nil, []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd", "tools/proxy"}},
		{"alpine", nil, []string{"alpine", "web/httpd-alpine"}},
		{"proxy", nil, []string{"tools/proxy", "tools/cache"}},
		{"caching", nil, []string{"tools/cache"}},
		{"release-20", nil, []string{"team/secret"}},
		{"release-20", []string{"tools/*", "httpd"}, []string{}},
		{"httpd", []string{"web/*", "zz/my*", "tools/*"}, []string{"web/httpd-alpine", "zz/myhttpd", "tools/proxy"}},
		{"httpd", []string{}, []string{}},
		{"b_c", nil, []string{"a/b_c"}},
		{"a%", nil, []string{"a%b"}},
		{"ng", nil, []string{"nginx", "tools/cache"}},
		{"x", nil, []string{"a/bxc", "nginx", "tools/proxy", "tools/cache"}},
		{"nothing", nil, []string{}},
		{"", nil, []string{"a%b", "a/b_c", "a/bxc", "alpine", "httpd", "httpd-tools", "library/httpd", "nginx", "team/secret", "tools/cache", "tools/proxy", "web/httpd-alpine", "zz/myhttpd"}},
		{"", []string{"a/*", "nginx"}, []string{"a/b_c", "a/bxc", "nginx"}},
		{"", []string{"a_*"}, []string{}}, // '_' is literal in a glob
		{"", []string{"*/b_c", "*x*"}, []string{"a/b_c", "a/bxc", "nginx", "tools/proxy"}},
		{"proxy", []string{"nginx", "tools/*", "*cache"}, []string{"tools/proxy", "tools/cache"}},
	}
	for _, tt := range tests {
		q := meta.SearchQuery{Text: tt.query, Visible: tt.visible, Limit: -1}
		got := searchNames(t, s, q)
		if !slices.Equal(got, tt.want) {
			t.Errorf("SearchRepositories(%q, visible %q) = %q, want %q", tt.query, tt.visible, got, tt.want)
		}
		n, err := s.CountRepositories(ctx, q)
		if err != nil || n != len(tt.want) {
			t.Errorf("CountRepositories(%q, visible %q) = %d, %v, want %d", tt.query, tt.visible, n, err, len(tt.want))
		}
		var paged []string
		for off := 0; off <= len(tt.want); off += 2 {
			q.Offset, q.Limit = off, 2
			paged = append(paged, searchNames(t, s, q)...)
		}
		if !slices.Equal(paged, tt.want) && len(tt.want) > 0 {
			t.Errorf("SearchRepositories(%q, visible %q) in pages of 2 = %q, want %q", tt.query, tt.visible, paged, tt.want)
		}
	}

	ms, err := s.SearchRepositories(ctx, meta.SearchQuery{Text: "tools/", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.RepoMatch{{Name: "tools/cache", Description: "Caching Proxy", Stars: 2, Indexed: true},
		{Name: "tools/proxy", Description: descriptions["tools/proxy"], Indexed: true}}
	if !slices.Equal(ms, want) {
		t.Errorf("matches of %q = %+v, want %+v", "tools/", ms, want)
	}
	// An unstar changes the count search ranks by; a new description
	// replaces the old one in the index.
	if err := s.Star(ctx, "tools/cache", "bob", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSearchDescription(ctx, "tools/cache", "memoizing layer"); err != nil {
		t.Fatal(err)
	}
	if got := searchNames(t, s, meta.SearchQuery{Text: "caching", Limit: -1}); len(got) != 0 {
		t.Errorf("search for the old description found %q", got)
	}
	ms, err = s.SearchRepositories(ctx, meta.SearchQuery{Text: "memoizing", Limit: -1})
	if err != nil || len(ms) != 1 || ms[0].Stars != 1 {
		t.Errorf("search for the new description = %+v, %v; want tools/cache with 1 star", ms, err)
	}
	unindexed, err := s.UnindexedRepositories(ctx, "a/b_c", 3)
	if err != nil || !slices.Equal(unindexed, []string{"a/bxc", "alpine", "httpd"}) {
		t.Errorf("UnindexedRepositories = %q, %v", unindexed, err)
	}
	// A deleted tag is no longer found.
	if err := s.DeleteTag(ctx, "team/secret", "Release-2024"); err != nil {
		t.Fatal(err)
	}
	if got := searchNames(t, s, meta.SearchQuery{Text: "release", Limit: -1}); len(got) != 0 {
		t.Errorf("search for a deleted tag found %q", got)
	}
}

func searchNames(t *testing.T, s meta.Store, q meta.SearchQuery) []string {
	t.Helper()
	ms, err := s.SearchRepositories(t.Context(), q)
	if err != nil {
		t.Fatalf("SearchRepositories(%+v): %v", q, err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// testSearchSource checks that one read reports what a search record
// derives from (explicit description, stars, the newest tag's manifest) and
// the record as it stands, through each change that alters one of them.
func testSearchSource(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if _, err := s.SearchSource(ctx, "r"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("SearchSource of a missing repository: %v, want ErrNotFound", err)
	}
	m1 := image("one", commitBlob(t, s, "r", "l1", 1))
	m2 := image("two", commitBlob(t, s, "r", "l2", 2))
	desc := "set by hand"
	steps := []struct {
		name   string
		change func() error
		want   meta.SearchSource
	}{
		{"no tags", func() error { return nil }, meta.SearchSource{}},
		{"first tag", func() error { return s.PutManifest(ctx, "r", m1, "v1") },
			meta.SearchSource{Newest: m1.Digest}},
		{"newer tag", func() error { return s.PutManifest(ctx, "r", m2, "v2") },
			meta.SearchSource{Newest: m2.Digest}},
		{"older tag moved", func() error { return s.PutManifest(ctx, "r", m1, "v2") },
			meta.SearchSource{Newest: m1.Digest}},
		{"recorded", func() error { return s.SetSearchDescription(ctx, "r", "from content") },
			meta.SearchSource{Newest: m1.Digest, Recorded: "from content", HasRecord: true}},
		{"starred", func() error { return s.Star(ctx, "r", "ann", true) }, // the store counts a recorded star itself
			meta.SearchSource{Stars: 1, Newest: m1.Digest, Recorded: "from content", RecordedStars: 1, HasRecord: true}},
		{"described", func() error { return s.SetRepoInfo(ctx, "r", meta.RepoInfoUpdate{Description: &desc}) },
			meta.SearchSource{Description: desc, Stars: 1, Newest: m1.Digest, Recorded: "from content", RecordedStars: 1, HasRecord: true}},
		{"re-recorded", func() error { return s.SetSearchDescription(ctx, "r", desc) },
			meta.SearchSource{Description: desc, Stars: 1, Newest: m1.Digest, Recorded: desc, RecordedStars: 1, HasRecord: true}},
		{"tag deleted", func() error { return s.DeleteTag(ctx, "r", "v2") },
			meta.SearchSource{Description: desc, Stars: 1, Newest: m1.Digest, Recorded: desc, RecordedStars: 1, HasRecord: true}},
		{"last tag deleted", func() error { return s.DeleteTag(ctx, "r", "v1") },
			meta.SearchSource{Description: desc, Stars: 1, Recorded: desc, RecordedStars: 1, HasRecord: true}},
	}
	for _, st := range steps {
		time.Sleep(3 * time.Millisecond) // updated_at is in milliseconds
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.SearchSource(ctx, "r")
		if err != nil || got != st.want {
			t.Fatalf("%s: SearchSource = %+v, %v; want %+v", st.name, got, err, st.want)
		}
	}
}

package metatest

import (
	"slices"
	"testing"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testSearchRepositories checks ranking, case, LIKE's wildcards taken
// literally, short queries (below the trigram length), counts and paging.
func testSearchRepositories(t *testing.T, s meta.Store) {
	ctx := t.Context()
	names := []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd", "alpine",
		"a/b_c", "a/bxc", "a%b", "nginx"}
	for _, name := range names {
		commitBlob(t, s, name, "config", 1)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"httpd", []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd"}},
		{"HTTPD", []string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd"}},
		{"alpine", []string{"alpine", "web/httpd-alpine"}},
		{"b_c", []string{"a/b_c"}},
		{"a%", []string{"a%b"}},
		{"ng", []string{"nginx"}},
		{"x", []string{"a/bxc", "nginx"}},
		{"nothing", []string{}},
		{"", []string{"a%b", "a/b_c", "a/bxc", "alpine", "httpd", "httpd-tools", "library/httpd", "nginx", "web/httpd-alpine", "zz/myhttpd"}},
	}
	for _, tt := range tests {
		got := searchNames(t, s, tt.query, 0, -1)
		if !slices.Equal(got, tt.want) {
			t.Errorf("SearchRepositories(%q) = %q, want %q", tt.query, got, tt.want)
		}
		n, err := s.CountRepositories(ctx, tt.query)
		if err != nil || n != len(tt.want) {
			t.Errorf("CountRepositories(%q) = %d, %v, want %d", tt.query, n, err, len(tt.want))
		}
		var paged []string
		for off := 0; off <= len(tt.want); off += 2 {
			paged = append(paged, searchNames(t, s, tt.query, off, 2)...)
		}
		if !slices.Equal(paged, tt.want) && len(tt.want) > 0 {
			t.Errorf("SearchRepositories(%q) in pages of 2 = %q, want %q", tt.query, paged, tt.want)
		}
	}
}

func searchNames(t *testing.T, s meta.Store, query string, offset, limit int) []string {
	t.Helper()
	ms, err := s.SearchRepositories(t.Context(), query, offset, limit)
	if err != nil {
		t.Fatalf("SearchRepositories(%q, %d, %d): %v", query, offset, limit, err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

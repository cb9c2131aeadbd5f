package registry

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestSearch pages a filtered search over more than a thousand
// candidates: every page is full and in rank order, and the total counts
// only what the viewer may see.
func TestSearch(t *testing.T) {
	reg, _ := newTestRegistry(t, 1024)
	const repos = 1200
	data := []byte("layer")
	d := digest.FromBytes(data)
	for i := range repos {
		if _, err := reg.PutBlob(t.Context(), fmt.Sprintf("r/%04d", i), d, bytes.NewReader(data)); err != nil {
			t.Fatalf("PutBlob: %v", err)
		}
	}
	visible := func(prefix string, v Viewer) []string {
		var out []string
		for i := range repos {
			name := fmt.Sprintf("r/%04d", i)
			if len(name) >= len(prefix) && name[:len(prefix)] == prefix && (v == nil || v.CanSee(name)) {
				out = append(out, name)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		v     Viewer
		query string
		n     int
	}{
		{"filtered, short query, pages of 100", everyThird{}, "r/", 100},
		{"filtered, indexed query, pages of 7", everyThird{}, "r/01", 7},
		{"sees all, pages of 250", seesAll{}, "r/", 250},
		{"nil viewer, indexed query", nil, "r/10", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := visible(tt.query, tt.v)
			var got []string
			for offset := 0; offset <= len(want); offset += tt.n {
				res, err := reg.Search(t.Context(), tt.v, tt.query, offset, tt.n)
				if err != nil {
					t.Fatalf("Search: %v", err)
				}
				if res.Total != len(want) {
					t.Fatalf("Search(%q) total = %d, want %d", tt.query, res.Total, len(want))
				}
				if wantLen := min(tt.n, len(want)-offset); len(res.Matches) != wantLen {
					t.Fatalf("page at %d has %d matches, want %d", offset, len(res.Matches), wantLen)
				}
				for _, m := range res.Matches {
					got = append(got, m.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages together = %d names, want %d (%q...)", len(got), len(want), want[:min(3, len(want))])
			}
		})
	}
}

package registry

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// everyThird sees the repositories whose number is a multiple of three.
type everyThird struct{}

func (everyThird) SeesAll() bool { return false }

// VisiblePatterns lists the visible names among the first few thousand,
// in both the tests' spellings.
func (v everyThird) VisiblePatterns() []string {
	out := []string{}
	for i := 0; i < 3000; i += 3 {
		out = append(out, fmt.Sprintf("r/%d", i), fmt.Sprintf("r/%04d", i))
	}
	return out
}

func (everyThird) CanSee(repo string) bool {
	var i int
	fmt.Sscanf(strings.TrimPrefix(repo, "r/"), "%d", &i)
	return i%3 == 0
}

type seesAll struct{}

func (seesAll) SeesAll() bool             { return true }
func (seesAll) CanSee(string) bool        { return true }
func (seesAll) VisiblePatterns() []string { return []string{"*"} }

// TestVisibleCatalog pages a filtered catalog of more than a thousand
// repositories (a view of a thousand exact names) and checks every page is
// full, in order, and that the pages together are exactly the visible
// repositories.
func TestVisibleCatalog(t *testing.T) {
	reg, _ := newTestRegistry(t, 1024)
	const repos = 1200
	data := []byte("layer")
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, repos)
	sem := make(chan struct{}, 64)
	for i := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := reg.PutBlob(t.Context(), fmt.Sprintf("r/%04d", i), d, bytes.NewReader(data)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("PutBlob: %v", err)
	}

	var want []string
	for i := 0; i < repos; i += 3 {
		want = append(want, fmt.Sprintf("r/%04d", i))
	}
	tests := []struct {
		name string
		v    Viewer
		n    int
		want []string
	}{
		{"filtered, pages of 100", everyThird{}, 100, want},
		{"filtered, one page", everyThird{}, -1, want},
		{"nil viewer sees all", nil, 500, nil},
		{"sees all", seesAll{}, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			last := ""
			for range repos {
				page, more, err := reg.VisibleCatalog(t.Context(), tt.v, last, tt.n)
				if err != nil {
					t.Fatalf("VisibleCatalog: %v", err)
				}
				if tt.n > 0 && more && len(page) != tt.n {
					t.Fatalf("page after %q has %d names, want %d", last, len(page), tt.n)
				}
				got = append(got, page...)
				if !more {
					break
				}
				last = page[len(page)-1]
			}
			if tt.want == nil {
				if len(got) != repos || !slices.IsSorted(got) {
					t.Fatalf("got %d names (sorted %v), want all %d", len(got), slices.IsSorted(got), repos)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %d names, want %d: first %v", len(got), len(tt.want), got[:min(5, len(got))])
			}
		})
	}
	if page, more, err := reg.VisibleCatalog(t.Context(), everyThird{}, "", 0); err != nil || len(page) != 0 || more {
		t.Fatalf("n=0: %v %v %v, want an empty last page", page, more, err)
	}
}

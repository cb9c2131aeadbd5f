package registry

import (
	"context"
	"fmt"

	"github.com/wharf-registry/wharf/internal/meta"
)

// SearchResult is one page of a search and the number of matches a viewer
// may see in all.
type SearchResult struct {
	Total   int
	Matches []meta.RepoMatch
}

// searchScanPage is how many ranked candidates a filtered search reads at
// a time.
const searchScanPage = 1000

// Search returns matches offset..offset+limit of query that v may see,
// ranked as meta.Store.SearchRepositories ranks them, and how many v may
// see in all. A viewer who sees everything costs one COUNT and one page in
// the database. The access policy is glob rules evaluated here, not SQL, so
// for other viewers the ranked matches are read in pages and filtered while
// reading, as VisibleCatalog does: pages stay full and hidden repositories
// never count, at the price of reading every match to count them exactly.
func (r *Registry) Search(ctx context.Context, v Viewer, query string, offset, limit int) (SearchResult, error) {
	if v == nil || v.SeesAll() {
		return r.searchAll(ctx, query, offset, limit)
	}
	res := SearchResult{Matches: []meta.RepoMatch{}}
	for scanned := 0; ; scanned += searchScanPage {
		page, err := r.meta.SearchRepositories(ctx, query, scanned, searchScanPage)
		if err != nil {
			return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
		}
		for _, m := range page {
			if !v.CanSee(m.Name) {
				continue
			}
			if res.Total >= offset && len(res.Matches) < limit {
				res.Matches = append(res.Matches, m)
			}
			res.Total++
		}
		if len(page) < searchScanPage {
			return res, nil
		}
	}
}

func (r *Registry) searchAll(ctx context.Context, query string, offset, limit int) (SearchResult, error) {
	total, err := r.meta.CountRepositories(ctx, query)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
	}
	matches, err := r.meta.SearchRepositories(ctx, query, offset, limit)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
	}
	return SearchResult{Total: total, Matches: matches}, nil
}

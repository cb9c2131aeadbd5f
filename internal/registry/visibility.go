package registry

import (
	"context"

	"github.com/wharf-registry/wharf/internal/meta"
)

// Viewer is what a caller may see of the registry's repositories in
// listings: the catalog today, search and the web UI next. The auth
// package's Decision is one; a nil Viewer sees everything.
type Viewer interface {
	// SeesAll reports whether every repository is visible, so listings
	// need no filtering.
	SeesAll() bool
	// CanSee reports whether one repository is visible.
	CanSee(repo string) bool
	// VisiblePatterns returns globs ('*' matches any run of characters)
	// whose union is exactly what CanSee accepts, so that a search filters
	// in its database query; never nil, empty when nothing is visible.
	VisiblePatterns() []string
}

// VisibleCatalog lists up to n repositories after last that v may see (n < 0:
// all of them), and whether more follow. v's view is part of the database
// query (see meta.SearchQuery.Visible), so a caller who sees few
// repositories among many gets full pages at the cost of those few.
func (r *Registry) VisibleCatalog(ctx context.Context, v Viewer, last string, n int) ([]string, bool, error) {
	if v == nil || v.SeesAll() {
		return r.Catalog(ctx, last, n)
	}
	visible := v.VisiblePatterns()
	if visible == nil {
		visible = []string{}
	}
	return page(n, func(limit int) ([]string, error) {
		ms, err := r.meta.SearchRepositories(ctx, meta.SearchQuery{Visible: visible, After: last, Limit: limit})
		if err != nil {
			return nil, err
		}
		names := make([]string, len(ms))
		for i, m := range ms {
			names[i] = m.Name
		}
		return names, nil
	})
}

package registry

import "context"

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

// catalogScanPage is how many names a filtered listing reads at a time
// while it looks for visible ones.
const catalogScanPage = 1000

// VisibleCatalog lists up to n repositories after last that v may see (n < 0:
// all of them), and whether more follow. A filtered view reads pages of the
// full list and drops hidden names until n visible ones are found, so a
// caller who sees few repositories still gets full pages.
func (r *Registry) VisibleCatalog(ctx context.Context, v Viewer, last string, n int) ([]string, bool, error) {
	if v == nil || v.SeesAll() {
		return r.Catalog(ctx, last, n)
	}
	out := []string{}
	if n == 0 {
		return out, false, nil
	}
	for {
		page, more, err := r.Catalog(ctx, last, catalogScanPage)
		if err != nil {
			return nil, false, err
		}
		for i, repo := range page {
			if !v.CanSee(repo) {
				continue
			}
			out = append(out, repo)
			if n > 0 && len(out) == n {
				return out, more || i < len(page)-1, nil
			}
		}
		if !more {
			return out, false, nil
		}
		last = page[len(page)-1]
	}
}

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

// Search returns matches offset..offset+limit of query that v may see,
// ranked as meta.Store.SearchRepositories ranks them, and how many v may
// see in all. A viewer who sees everything costs one COUNT and one page in
// the database. The access policy is glob rules evaluated here, not SQL, so
// for other viewers every ranked match is read and filtered here: pages
// stay full and hidden repositories never count, at the price of reading
// (and holding the names of) every match of the query.
func (r *Registry) Search(ctx context.Context, v Viewer, query string, offset, limit int) (SearchResult, error) {
	res, err := r.search(ctx, v, query, offset, limit)
	if err != nil {
		return SearchResult{}, err
	}
	if err := r.describeMatches(ctx, res.Matches); err != nil {
		return SearchResult{}, err
	}
	return res, nil
}

// describeMatches fills in the description (its search form: first line,
// at most SearchDescriptionMax characters) and the star count of one page
// of matches: the explicit descriptions and stars in one query, the
// content's description for the others.
func (r *Registry) describeMatches(ctx context.Context, matches []meta.RepoMatch) error {
	if len(matches) == 0 {
		return nil
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = m.Name
	}
	infos, err := r.meta.RepoInfo(ctx, names)
	if err != nil {
		return wrap(err, "search: repository information")
	}
	for i := range matches {
		info := infos[matches[i].Name]
		desc := info.Description
		if desc == "" {
			if desc, _, err = r.contentDescription(ctx, matches[i].Name); err != nil {
				return err
			}
		}
		matches[i].Description, matches[i].Stars = ShortDescription(desc), info.Stars
	}
	return nil
}

func (r *Registry) search(ctx context.Context, v Viewer, query string, offset, limit int) (SearchResult, error) {
	if v == nil || v.SeesAll() {
		return r.searchAll(ctx, query, offset, limit)
	}
	// One ranked query, read to the end: paging it with OFFSET would sort
	// the matches again for every page.
	all, err := r.meta.SearchRepositories(ctx, query, 0, -1)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
	}
	res := SearchResult{Matches: []meta.RepoMatch{}}
	for _, m := range all {
		if !v.CanSee(m.Name) {
			continue
		}
		if res.Total >= offset && len(res.Matches) < limit {
			res.Matches = append(res.Matches, m)
		}
		res.Total++
	}
	return res, nil
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

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
// ranked as meta.SearchTextStore.SearchRepositories ranks them, and how
// many v may see in all: one COUNT and one page in the database, with v's
// view part of both queries (its VisiblePatterns), so pages stay full and
// hidden repositories are never counted.
func (r *Registry) Search(ctx context.Context, v Viewer, query string, offset, limit int) (SearchResult, error) {
	q := meta.SearchQuery{Text: query, Offset: offset, Limit: limit}
	if v != nil && !v.SeesAll() {
		q.Visible = v.VisiblePatterns()
		if q.Visible == nil {
			q.Visible = []string{}
		}
	}
	total, err := r.meta.CountRepositories(ctx, q)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
	}
	matches, err := r.meta.SearchRepositories(ctx, q)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search %q: %w", query, err)
	}
	if err := r.describeUnindexed(ctx, matches); err != nil {
		return SearchResult{}, err
	}
	return SearchResult{Total: total, Matches: matches}, nil
}

// describeUnindexed fills in the description and stars of matches the
// search record lacks (a repository not yet backfilled, see IndexSearch)
// the slow way, so a search never shows them bare.
func (r *Registry) describeUnindexed(ctx context.Context, matches []meta.RepoMatch) error {
	for i := range matches {
		if matches[i].Indexed {
			continue
		}
		desc, src, _, err := r.searchText(ctx, matches[i].Name)
		if err != nil {
			return err
		}
		matches[i].Description, matches[i].Stars = desc, src.Stars
	}
	return nil
}

// searchText is repo's description as search shows it (the explicit one,
// else the content's; one line, at most SearchDescriptionMax characters)
// and what it was made of, its star count included; ok is false when repo
// does not exist.
func (r *Registry) searchText(ctx context.Context, repo string) (desc string, src meta.SearchSource, ok bool, err error) {
	src, err = r.meta.SearchSource(ctx, repo)
	if isNotFound(err) {
		return "", src, false, nil
	}
	if err != nil {
		return "", src, false, wrap(err, "search: repository information")
	}
	desc = src.Description
	if desc == "" && src.Newest != "" {
		if desc, _, err = r.describeManifest(ctx, repo, src.Newest); err != nil {
			return "", src, false, err
		}
	}
	return ShortDescription(desc), src, true, nil
}

// refreshSearch records repo's search description after a change that may
// alter it (a tag set or removed, a description set). The change itself is
// committed by then: a failure here is logged, not returned, and the
// record stays as it was until the next change.
func (r *Registry) refreshSearch(ctx context.Context, repo string) {
	ctx = context.WithoutCancel(ctx)
	if err := r.recordSearch(ctx, repo); err != nil {
		r.log.WarnContext(ctx, "search description not recorded", "repo", repo, "error", err)
	}
}

// recordSearch brings repo's search record up to date. The common push (a
// new tag of an image already described) reads one row and writes nothing.
func (r *Registry) recordSearch(ctx context.Context, repo string) error {
	desc, src, ok, err := r.searchText(ctx, repo)
	if err != nil || !ok {
		return err // when !ok, deleted meanwhile: its record went with it
	}
	if src.HasRecord && src.Recorded == desc && src.RecordedStars == src.Stars {
		return nil
	}
	if err := r.meta.SetSearchDescription(ctx, repo, desc); err != nil {
		return wrap(err, "search: record description")
	}
	return nil
}

// indexSearchPage is how many repositories IndexSearch records per query.
const indexSearchPage = 500

// IndexSearch records the search description of every repository that
// has none: repositories imported from distribution's layout, copied by a
// migration, or stored by a wharf older than the record. It returns how
// many it recorded.
func (r *Registry) IndexSearch(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		page, err := r.meta.UnindexedRepositories(ctx, after, indexSearchPage)
		if err != nil {
			return n, wrap(err, "index search")
		}
		for _, repo := range page {
			if err := r.recordSearch(ctx, repo); err != nil {
				return n, fmt.Errorf("index search: %w", err)
			}
			n++
		}
		if len(page) < indexSearchPage {
			return n, nil
		}
		after = page[len(page)-1]
	}
}

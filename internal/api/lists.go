package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/registry"
)

const (
	// defaultCatalogPage is the catalog page size when the client names
	// none, so a registry with many repositories answers quickly.
	defaultCatalogPage = 1000
	// maxPage caps n, so one request cannot ask for an unbounded listing.
	maxPage = 10000
)

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last := pagination(r, defaultCatalogPage)
	repos, more, err := h.reg.VisibleCatalog(r.Context(), viewer(rt.dec), last, n)
	if err != nil {
		return err
	}
	if more && len(repos) > 0 {
		setNextLink(w, "/v2/_catalog", n, repos[len(repos)-1])
	}
	writeJSON(w, r, http.StatusOK, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last := pagination(r, -1)
	tags, more, err := h.reg.Tags(r.Context(), rt.name, last, n)
	if err != nil {
		return err
	}
	if more && len(tags) > 0 {
		setNextLink(w, "/v2/"+rt.name+"/tags/list", n, tags[len(tags)-1])
	}
	writeJSON(w, r, http.StatusOK, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
	return nil
}

// pagination reads n and last; def is n's value when absent (-1: no limit).
// n is clamped rather than refused: a negative n lists nothing, one above
// maxPage lists maxPage with a Link to the rest, and one that is not a
// number is ignored. The spec's error table has no code for a bad n, and a
// client asking for too much is better served a page than an error.
func pagination(r *http.Request, def int) (int, string) {
	q := r.URL.Query()
	n := def
	if s := q.Get("n"); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			n = int(max(0, min(v, maxPage)))
		} else if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-") {
			n = maxPage
		} else if errors.Is(err, strconv.ErrRange) {
			n = 0
		}
	}
	return n, q.Get("last")
}

// setNextLink adds the RFC 5988 Link header pointing at the next page.
func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// viewer is what the caller may see in listings; nil sees everything.
func viewer(d *auth.Decision) registry.Viewer {
	if d != nil {
		return d
	}
	return nil
}

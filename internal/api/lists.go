package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharf-registry/wharf/internal/registry"
)

const (
	// defaultCatalogPage is the catalog page size when the client names
	// none, so a registry with many repositories answers quickly.
	defaultCatalogPage = 1000
	// maxPage caps n, so one request cannot ask for an unbounded listing.
	maxPage = 10000
)

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, _ route) error {
	n, last, err := pagination(r, defaultCatalogPage)
	if err != nil {
		return err
	}
	repos, more, err := h.visibleCatalog(r, last, n)
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
	n, last, err := pagination(r, -1)
	if err != nil {
		return err
	}
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
func pagination(r *http.Request, def int) (int, string, error) {
	q := r.URL.Query()
	n := def
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", &registry.Error{Code: codePaginationInvalid, Message: "n must be a non-negative integer"}
		}
		n = min(v, maxPage)
	}
	return n, q.Get("last"), nil
}

// setNextLink adds the RFC 5988 Link header pointing at the next page.
func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// visibleCatalog lists the repositories the caller may see: all of them,
// or, when its view is filtered, pages of the full list with the hidden
// ones dropped until n visible names are found.
func (h *Handler) visibleCatalog(r *http.Request, last string, n int) ([]string, bool, error) {
	d := decision(r.Context())
	if d == nil || !d.FiltersCatalog() {
		return h.reg.Catalog(r.Context(), last, n)
	}
	out := []string{}
	if n == 0 {
		return out, false, nil
	}
	for n < 0 || len(out) < n {
		page, more, err := h.reg.Catalog(r.Context(), last, defaultCatalogPage)
		if err != nil {
			return nil, false, err
		}
		for i, repo := range page {
			if !d.CanSee(repo) {
				continue
			}
			out = append(out, repo)
			if n >= 0 && len(out) == n {
				return out, more || i < len(page)-1, nil
			}
		}
		if !more {
			return out, false, nil
		}
		last = page[len(page)-1]
	}
	return out, true, nil
}

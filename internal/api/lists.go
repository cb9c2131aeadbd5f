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
	repos, more, err := h.reg.Catalog(r.Context(), last, n)
	if err != nil {
		return err
	}
	if more {
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
	if more {
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

package v1

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/registry"
)

// Page sizes of a search: the docker daemon asks for 25 unless told, and
// Docker Hub never answers more than 100.
const (
	defaultPageSize = 25
	maxPageSize     = 100
)

// emptyBasic is the Authorization header the docker daemon sends when it
// has no credentials for the registry: it means anonymous, not a failed
// login.
const emptyBasic = "Basic Og=="

// searchResponse is the v1 search answer. Clients show results as they
// come: they neither cut nor sort them.
type searchResponse struct {
	Query      string         `json:"query"`
	NumResults int            `json:"num_results"`
	NumPages   int            `json:"num_pages"`
	Page       int            `json:"page"`
	PageSize   int            `json:"page_size"`
	Results    []searchResult `json:"results"`
}

type searchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
}

// search answers GET /v1/search?q=&n=&page= with what the caller may pull.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Authorization")), emptyBasic) {
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	dec, err := h.guard.Authorize(r, nil, false)
	if err != nil {
		h.deny(w, err)
		return
	}
	q := r.URL.Query()
	query := strings.TrimSpace(q.Get("q"))
	size := clamp(atoiOr(q.Get("n"), defaultPageSize), 1, maxPageSize)
	page := max(atoiOr(q.Get("page"), 1), 1)
	res, err := h.reg.Search(r.Context(), viewer(dec), query, (page-1)*size, size)
	if err != nil {
		h.log.ErrorContext(r.Context(), "v1 search failed", "query", query, "err", err)
		writeError(w, http.StatusInternalServerError, "search failed")
		return
	}
	out := searchResponse{Query: query, NumResults: res.Total, NumPages: (res.Total + size - 1) / size,
		Page: page, PageSize: size, Results: make([]searchResult, 0, len(res.Matches))}
	for _, m := range res.Matches {
		out.Results = append(out.Results, searchResult{Name: m.Name, Description: m.Description, StarCount: m.Stars})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// viewer keeps a nil decision a nil Viewer (no auth: everything visible).
func viewer(d *auth.Decision) registry.Viewer {
	if d == nil {
		return nil
	}
	return d
}

// deny answers a refused search with the guard's status and challenge.
func (h *Handler) deny(w http.ResponseWriter, err error) {
	d, ok := auth.AsDenied(err)
	if !ok {
		h.log.Error("v1 search authorization failed", "err", err)
		writeError(w, http.StatusInternalServerError, "authorization failed")
		return
	}
	if d.Challenge != "" {
		w.Header().Set("WWW-Authenticate", d.Challenge)
	}
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds()+0.5)))
	}
	writeError(w, d.Status, d.Message)
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

func clamp(n, lo, hi int) int { return min(max(n, lo), hi) }

// Package v1 serves the few calls of Docker's v1 registry API that clients
// still make against a v2 registry: the ping `docker search` and
// `podman search` send first, the search itself, and the repository calls
// of older scripts (seed 004): tags, their image ids, and deletes.
package v1

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/middleware"
	"github.com/wharf-registry/wharf/internal/registry"
)

// Handler serves /v1/ and /_ping.
type Handler struct {
	reg   *registry.Registry
	guard *auth.Guard
	log   *slog.Logger
}

// New returns the v1 surface over reg, authorizing searches with guard
// (nil: everyone sees everything).
func New(reg *registry.Registry, guard *auth.Guard, log *slog.Logger) *Handler {
	return &Handler{reg: reg, guard: guard, log: log}
}

// ServeHTTP dispatches the v1 paths wharf knows; others get 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_ping", "/v1/_ping":
		middleware.SetEndpoint(r.Context(), "v1_ping")
		h.ping(w, r)
	case "/v1/search":
		middleware.SetEndpoint(r.Context(), "v1_search")
		h.search(w, r)
	default:
		if strings.HasPrefix(r.URL.Path, repositoriesPrefix) {
			h.repositories(w, r)
			return
		}
		writeError(w, http.StatusNotFound, "no such v1 endpoint: "+r.URL.Path)
	}
}

// ping tells clients this is a standalone registry, one that does not
// delegate logins to an index, so they search it directly.
func (h *Handler) ping(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	w.Header().Set("X-Docker-Registry-Standalone", "true")
	writeJSON(w, r, http.StatusOK, struct{}{})
}

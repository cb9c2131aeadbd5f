package v1

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/middleware"
	"github.com/wharf-registry/wharf/internal/registry"
)

// repositoriesPrefix is where the v1 repository calls live.
const repositoriesPrefix = "/v1/repositories/"

// kind is which of the v1 repository paths a request names.
type kind int

const (
	kindNone kind = iota
	kindTags      // <name>/tags
	kindTag       // <name>/tags/<tag>
	kindRepo      // <name>/ (the trailing slash marks the repository itself)
)

// request is a parsed v1 repository path.
type request struct {
	kind kind
	name string
	tag  string
}

// parse reads the path after repositoriesPrefix. A path ending in "/" names the
// repository; otherwise its last segments say tags or one tag.
func parse(path string) request {
	rest, ok := strings.CutPrefix(path, repositoriesPrefix)
	if !ok || rest == "" {
		return request{}
	}
	if name, ok := strings.CutSuffix(rest, "/"); ok {
		return request{kind: kindRepo, name: libraryName(name)}
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	switch {
	case n >= 2 && seg[n-1] == "tags":
		return request{kind: kindTags, name: libraryName(strings.Join(seg[:n-1], "/"))}
	case n >= 3 && seg[n-2] == "tags":
		return request{kind: kindTag, name: libraryName(strings.Join(seg[:n-2], "/")), tag: seg[n-1]}
	}
	return request{}
}

// libraryName puts a one-segment name in the library namespace.
func libraryName(name string) string {
	if name != "" && !strings.Contains(name, "/") {
		return "library/" + name
	}
	return name
}

// repositories serves the v1 repository calls (seed 004): a repository's
// tags and their image ids, and tag and repository deletion.
func (h *Handler) repositories(w http.ResponseWriter, r *http.Request) {
	req := parse(r.URL.Path)
	if req.kind == kindNone {
		writeError(w, http.StatusNotFound, "no such v1 endpoint: "+r.URL.Path)
		return
	}
	middleware.SetEndpoint(r.Context(), endpointName(req.kind))
	serve, action := h.route(req.kind, r.Method)
	if serve == nil {
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	if err := registry.ValidateName(req.name); err != nil {
		h.fail(w, r, err)
		return
	}
	scope := []auth.Scope{{Type: "repository", Name: req.name, Actions: []string{action}}}
	if _, err := h.guard.Authorize(r, scope, false); err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := serve(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, body)
}

type serveFunc func(ctx context.Context, req request) (any, error)

// route is the handler of a path kind and method, and the action on the
// repository it needs.
func (h *Handler) route(k kind, method string) (serveFunc, string) {
	switch {
	case k == kindTags && isRead(method):
		return h.tags, auth.ActionPull
	case k == kindTag && isRead(method):
		return h.tag, auth.ActionPull
	case k == kindTag && method == http.MethodDelete:
		return h.deleteTag, auth.ActionDelete
	case k == kindRepo && method == http.MethodDelete:
		return h.deleteRepo, auth.ActionDelete
	}
	return nil, ""
}

func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

func endpointName(k kind) string {
	switch k {
	case kindTags:
		return "v1_tags"
	case kindTag:
		return "v1_tag"
	}
	return "v1_repository"
}

func (h *Handler) tags(ctx context.Context, req request) (any, error) {
	return h.reg.ImageIDs(ctx, req.name)
}

func (h *Handler) tag(ctx context.Context, req request) (any, error) {
	return h.reg.ImageID(ctx, req.name, req.tag)
}

func (h *Handler) deleteTag(ctx context.Context, req request) (any, error) {
	if err := registry.ValidateTag(req.tag); err != nil {
		return nil, err
	}
	return true, h.reg.DeleteManifest(ctx, req.name, req.tag)
}

func (h *Handler) deleteRepo(ctx context.Context, req request) (any, error) {
	return true, h.reg.DeleteRepository(ctx, req.name)
}

// statuses maps registry codes to v1 statuses; others are 400.
var statuses = map[registry.Code]int{
	registry.CodeNameUnknown:     http.StatusNotFound,
	registry.CodeManifestUnknown: http.StatusNotFound,
	registry.CodeUnsupported:     http.StatusMethodNotAllowed,
	registry.CodeUnauthorized:    http.StatusUnauthorized,
	registry.CodeDenied:          http.StatusForbidden,
}

// fail answers err: the guard's refusals with their challenge, registry
// errors with their status and {"error": message} as v1 did, anything
// else as 500 with only the request id shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if d, ok := auth.AsDenied(err); ok {
		auth.WriteDenied(w, d)
		return
	}
	if e, ok := registry.AsError(err); ok {
		status, known := statuses[e.Code]
		if !known {
			status = http.StatusBadRequest
		}
		writeError(w, status, e.Message)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	id := middleware.RequestID(r.Context())
	h.log.ErrorContext(r.Context(), "v1 request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", id)
	writeError(w, http.StatusInternalServerError, "internal server error; request id "+id)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

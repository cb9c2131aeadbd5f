// Package api is wharf's HTTP layer: /v2 routing, request parsing, headers
// and OCI error bodies. The rules of the spec live in the registry package;
// this package only translates between HTTP and it.
package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-registry/wharf/internal/auth"
	"github.com/wharf-registry/wharf/internal/middleware"
	"github.com/wharf-registry/wharf/internal/registry"
)

// Options tune the HTTP layer.
type Options struct {
	// BodyIdleTimeout ends an upload whose client sends nothing for this
	// long, so a stalled client cannot hold a connection forever while a
	// slow but steady one is never cut off.
	BodyIdleTimeout time.Duration
	// Guard authenticates and authorizes requests; nil lets everyone do
	// everything.
	Guard *auth.Guard
}

// Handler serves the distribution API under /v2. Request ids, the access
// log and metrics come from the middleware the server wraps around every
// surface.
type Handler struct {
	reg       *registry.Registry
	log       *slog.Logger
	opts      Options
	endpoints []*endpoint
	// open is the decision every request gets when the guard enforces
	// nothing, made once: nothing changes a decision after it is made.
	open *auth.Decision
}

// New returns the API handler.
func New(reg *registry.Registry, log *slog.Logger, opts Options) *Handler {
	if opts.BodyIdleTimeout <= 0 {
		opts.BodyIdleTimeout = time.Minute
	}
	h := &Handler{reg: reg, log: log, opts: opts}
	h.endpoints = h.endpointTable()
	if !opts.Guard.Enforced() {
		h.open = opts.Guard.DecisionFor(auth.Identity{})
	}
	return h
}

// apiVersionKey and apiVersion are the header every answer carries, its
// value shared between answers: nothing changes a header value in place,
// and an append to a slice of capacity one copies it.
var (
	apiVersionKey = http.CanonicalHeaderKey("Docker-Distribution-API-Version")
	apiVersion    = []string{"registry/2.0"}
)

// ServeHTTP dispatches by endpoint and method, after authorization.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()[apiVersionKey] = apiVersion
	rt := parseRoute(h.endpoints, r.URL.Path)
	if rt.ep == nil {
		h.NotFound(w, r)
		return
	}
	middleware.SetEndpoint(r.Context(), rt.ep.name)
	if rt.ep.hasRepository() {
		if err := registry.ValidateName(rt.name); err != nil {
			writeError(w, r, h.log, err)
			return
		}
	}
	handler := rt.ep.handler(r.Method)
	if handler == nil {
		writeError(w, r, h.log, &registry.Error{Code: registry.CodeUnsupported, Message: "method " + r.Method + " not allowed on " + r.URL.Path})
		return
	}
	rt.dec = h.open
	if rt.dec == nil {
		need, requireLogin := rt.ep.access(rt, r.Method)
		dec, err := h.opts.Guard.Authorize(r, need, requireLogin, mountSource(rt, r)...)
		if err != nil {
			writeError(w, r, h.log, err)
			return
		}
		middleware.SetUser(r.Context(), dec.Identity.User)
		rt.dec = dec
	}
	if err := handler(w, r, rt); err != nil {
		writeError(w, r, h.log, err)
	}
}

// NotFound answers a path no endpoint serves, with the OCI error body
// clients expect from a registry.
func (h *Handler) NotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	writeError(w, r, h.log, &registry.Error{Code: codeNotFound, Message: "no such API endpoint: " + r.URL.Path})
}

// mountSource is the scope a cross-repository mount would like besides its
// own: pull on the repository it mounts from.
func mountSource(rt route, r *http.Request) []auth.Scope {
	if rt.ep == nil || rt.ep.name != "upload_start" || r.Method != http.MethodPost {
		return nil
	}
	q := r.URL.Query()
	from := q.Get("from")
	if q.Get("mount") == "" || from == "" || registry.ValidateName(from) != nil {
		return nil
	}
	return repoScope(from, auth.ActionPull)
}

func (h *Handler) base(w http.ResponseWriter, r *http.Request, _ route) error {
	writeJSON(w, r, http.StatusOK, struct{}{})
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

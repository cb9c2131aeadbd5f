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
	"github.com/wharf-registry/wharf/internal/metrics"
	"github.com/wharf-registry/wharf/internal/registry"
)

// Options tune the HTTP layer.
type Options struct {
	// BodyIdleTimeout ends an upload whose client sends nothing for this
	// long, so a stalled client cannot hold a connection forever while a
	// slow but steady one is never cut off.
	BodyIdleTimeout time.Duration
	// AccessLog writes one line per request.
	AccessLog bool
	// Metrics counts requests per endpoint; nil counts nothing.
	Metrics *metrics.Metrics
	// Guard authenticates and authorizes requests; nil lets everyone do
	// everything.
	Guard *auth.Guard
	// TokenHandler, if set, answers auth.TokenPath (the built-in token
	// server), behind the same request ids, access log and metrics.
	TokenHandler http.Handler
}

// Handler serves the distribution API.
type Handler struct {
	reg    *registry.Registry
	log    *slog.Logger
	opts   Options
	routes map[routeKind]map[string]handlerFunc
}

// New returns the API handler, wrapped in request id and access log
// middleware.
func New(reg *registry.Registry, log *slog.Logger, opts Options) http.Handler {
	if opts.BodyIdleTimeout <= 0 {
		opts.BodyIdleTimeout = time.Minute
	}
	h := &Handler{reg: reg, log: log, opts: opts}
	h.routes = h.routeTable()
	return withRequestID(withAccessLog(log, opts.AccessLog, h))
}

// ServeHTTP dispatches by route and method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt := parseRoute(r.URL.Path)
	if rt.kind == routeUnknown && r.URL.Path == auth.TokenPath && h.opts.TokenHandler != nil {
		rt.kind = routeToken
	}
	if h.opts.Metrics != nil {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		w = rec
		defer func() { h.opts.Metrics.Request(rt.kind.String(), r.Method, rec.status, time.Since(start)) }()
	}
	if rt.kind == routeToken {
		h.opts.TokenHandler.ServeHTTP(w, r)
		return
	}
	if rt.kind == routeUnknown {
		writeError(w, r, h.log, &registry.Error{Code: codeNotFound, Message: "no such API endpoint: " + r.URL.Path})
		return
	}
	if rt.name != "" || hasName(rt.kind) {
		if err := registry.ValidateName(rt.name); err != nil {
			writeError(w, r, h.log, err)
			return
		}
	}
	handler := h.lookup(rt.kind, r.Method)
	if handler == nil {
		writeError(w, r, h.log, &registry.Error{Code: registry.CodeUnsupported, Message: "method " + r.Method + " not allowed on " + r.URL.Path})
		return
	}
	need, requireLogin := h.requiredAccess(rt, r.Method)
	dec, err := h.opts.Guard.Authorize(r, need, requireLogin, mountSource(rt, r)...)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	r = r.WithContext(withDecision(r.Context(), dec))
	if err := handler(w, r, rt); err != nil {
		writeError(w, r, h.log, err)
	}
}

// requiredAccess is what a request needs: the scopes of the Docker token
// spec, and whether an anonymous caller must log in even if it needs none.
func (h *Handler) requiredAccess(rt route, method string) ([]auth.Scope, bool) {
	repo := func(actions ...string) []auth.Scope {
		return []auth.Scope{{Type: "repository", Name: rt.name, Actions: actions}}
	}
	switch rt.kind {
	case routeBase:
		return nil, true
	case routeCatalog:
		if h.opts.Guard != nil && h.opts.Guard.Mode == auth.ModeExternalToken {
			// An external server's tokens are all wharf knows of the
			// caller: the catalog needs its explicit grant.
			return []auth.Scope{{Type: "registry", Name: "catalog", Actions: []string{auth.ActionAll}}}, true
		}
		return nil, false
	case routeTags, routeReferrers:
		return repo(auth.ActionPull), false
	case routeManifest, routeBlob:
		switch method {
		case http.MethodGet, http.MethodHead:
			return repo(auth.ActionPull), false
		case http.MethodDelete:
			return repo(auth.ActionDelete), false
		}
		return repo(auth.ActionPush), false
	case routeUploads, routeUpload:
		return repo(auth.ActionPush), false
	}
	return nil, true
}

// mountSource is the scope a cross-repository mount would like besides its
// own: pull on the repository it mounts from.
func mountSource(rt route, r *http.Request) []auth.Scope {
	if rt.kind != routeUploads || r.Method != http.MethodPost {
		return nil
	}
	q := r.URL.Query()
	from := q.Get("from")
	if q.Get("mount") == "" || from == "" || registry.ValidateName(from) != nil {
		return nil
	}
	return []auth.Scope{{Type: "repository", Name: from, Actions: []string{auth.ActionPull}}}
}

func hasName(k routeKind) bool { return k != routeBase && k != routeCatalog && k != routeToken }

type handlerFunc func(http.ResponseWriter, *http.Request, route) error

// lookup returns the handler for an endpoint and method, or nil.
func (h *Handler) lookup(k routeKind, method string) handlerFunc {
	if method == http.MethodHead {
		method = http.MethodGet // HEAD handlers are GET handlers that skip the body
	}
	return h.routes[k][method]
}

// routeTable maps each endpoint and method to its handler.
func (h *Handler) routeTable() map[routeKind]map[string]handlerFunc {
	return map[routeKind]map[string]handlerFunc{
		routeBase:      {http.MethodGet: h.base},
		routeCatalog:   {http.MethodGet: h.catalog},
		routeTags:      {http.MethodGet: h.tags},
		routeManifest:  {http.MethodGet: h.getManifest, http.MethodPut: h.putManifest, http.MethodDelete: h.deleteManifest},
		routeBlob:      {http.MethodGet: h.getBlob, http.MethodDelete: h.deleteBlob},
		routeUploads:   {http.MethodPost: h.startUpload},
		routeUpload:    {http.MethodGet: h.uploadStatus, http.MethodPatch: h.patchUpload, http.MethodPut: h.finishUpload, http.MethodDelete: h.cancelUpload},
		routeReferrers: {http.MethodGet: h.referrers},
	}
}

func (h *Handler) base(w http.ResponseWriter, r *http.Request, _ route) error {
	writeJSON(w, r, http.StatusOK, struct{}{})
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

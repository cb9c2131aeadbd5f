package api

import (
	"net/http"
	"strings"

	"github.com/wharf-registry/wharf/internal/auth"
)

// endpoint is one kind of path the API serves: its shape, its handler for
// each method, and what each method needs of the caller. Adding an endpoint
// is one entry in Handler.endpointTable; routing, the 405 answer, metrics
// and authorization all read it from there.
type endpoint struct {
	// name labels the endpoint in metrics.
	name string
	// path is the whole path after /v2/ for endpoints without a
	// repository (the base, the catalog).
	path string
	// suffix is the segments that follow the repository name; "*" takes
	// the reference (tag, digest or upload id). Empty for path endpoints.
	suffix []string
	// methods are the handlers; HEAD is served by the GET handler.
	methods map[string]handlerFunc
	// access is the scopes a method needs, and whether an anonymous
	// caller must log in even when it needs none.
	access accessRule
}

type handlerFunc func(http.ResponseWriter, *http.Request, route) error

type accessRule func(rt route, method string) (need []auth.Scope, requireLogin bool)

// route is a parsed request path: the endpoint, the repository name and the
// reference (tag, digest or upload id) where the endpoint has one. A nil
// endpoint means no endpoint matched.
type route struct {
	ep   *endpoint
	name string
	ref  string
	dec  *auth.Decision // what the caller was authorized to do; nil without access control
}

// endpointTable lists the endpoints of the distribution API, most specific
// shape first: a repository may itself be called "blobs" or "manifests",
// so shapes are told apart by the path's last segments.
func (h *Handler) endpointTable() []*endpoint {
	return []*endpoint{
		{name: "base", path: "", methods: get(h.base), access: loginOnly},
		{name: "catalog", path: "_catalog", methods: get(h.catalog), access: h.catalogAccess},
		{name: "upload_start", suffix: []string{"blobs", "uploads", ""},
			methods: map[string]handlerFunc{http.MethodPost: h.startUpload}, access: needs(auth.ActionPush)},
		{name: "upload", suffix: []string{"blobs", "uploads", "*"},
			methods: map[string]handlerFunc{http.MethodGet: h.uploadStatus, http.MethodPatch: h.patchUpload,
				http.MethodPut: h.finishUpload, http.MethodDelete: h.cancelUpload},
			access: needs(auth.ActionPush)},
		{name: "upload_start", suffix: []string{"blobs", "uploads"},
			methods: map[string]handlerFunc{http.MethodPost: h.startUpload}, access: needs(auth.ActionPush)},
		{name: "blob", suffix: []string{"blobs", "*"},
			methods: map[string]handlerFunc{http.MethodGet: h.getBlob, http.MethodDelete: h.deleteBlob},
			access:  byMethod},
		{name: "manifest", suffix: []string{"manifests", "*"},
			methods: map[string]handlerFunc{http.MethodGet: h.getManifest, http.MethodPut: h.putManifest,
				http.MethodDelete: h.deleteManifest},
			access: byMethod},
		{name: "tags", suffix: []string{"tags", "list"}, methods: get(h.tags), access: needs(auth.ActionPull)},
		{name: "referrers", suffix: []string{"referrers", "*"}, methods: get(h.referrers), access: needs(auth.ActionPull)},
		{name: "wharf_info", suffix: []string{"_wharf", "info"},
			methods: map[string]handlerFunc{http.MethodGet: h.repoInfo, http.MethodPut: h.setRepoInfo}, access: byMethod},
		{name: "wharf_star", suffix: []string{"_wharf", "star"},
			methods: map[string]handlerFunc{http.MethodPut: h.star, http.MethodDelete: h.star}, access: starAccess},
	}
}

func get(f handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: f} }

// handler returns the endpoint's handler for method, or nil.
func (e *endpoint) handler(method string) handlerFunc {
	if method == http.MethodHead {
		method = http.MethodGet // HEAD handlers are GET handlers that skip the body
	}
	return e.methods[method]
}

// hasRepository reports whether the endpoint's paths name a repository.
func (e *endpoint) hasRepository() bool { return len(e.suffix) > 0 }

// parseRoute matches a path against the endpoints. Repository names
// contain slashes, so an endpoint is recognised by the path's last
// segments and everything before them is the name. The route's name and
// reference are pieces of path: parsing allocates nothing.
func parseRoute(eps []*endpoint, path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			rest = ""
		} else {
			return route{}
		}
	}
	for _, ep := range eps {
		if !ep.hasRepository() {
			if rest == ep.path {
				return route{ep: ep}
			}
			continue
		}
		if rt, ok := ep.match(rest); ok {
			return rt
		}
	}
	return route{}
}

// match reports whether rest ends with the endpoint's suffix segments
// after at least one segment of repository name (which may be empty and
// is then refused as an invalid name, not as an unknown path).
func (e *endpoint) match(rest string) (route, bool) {
	rt := route{ep: e}
	end := len(rest)
	for i := len(e.suffix) - 1; i >= 0; i-- {
		slash := strings.LastIndexByte(rest[:end], '/')
		if slash < 0 {
			return route{}, false
		}
		got := rest[slash+1 : end]
		switch want := e.suffix[i]; want {
		case "*":
			rt.ref = got
		default:
			if got != want {
				return route{}, false
			}
		}
		end = slash
	}
	rt.name = rest[:end]
	return rt, true
}

// loginOnly needs no scope but a logged-in caller (GET /v2/).
func loginOnly(route, string) ([]auth.Scope, bool) { return nil, true }

// needs asks for the same actions on the route's repository whatever the
// method.
func needs(actions ...string) accessRule {
	return func(rt route, _ string) ([]auth.Scope, bool) {
		return repoScope(rt.name, actions...), false
	}
}

// byMethod is pull for reads, delete for DELETE and push for writes.
func byMethod(rt route, method string) ([]auth.Scope, bool) {
	switch method {
	case http.MethodGet, http.MethodHead:
		return repoScope(rt.name, auth.ActionPull), false
	case http.MethodDelete:
		return repoScope(rt.name, auth.ActionDelete), false
	}
	return repoScope(rt.name, auth.ActionPush), false
}

// catalogAccess needs no scope: the listing is filtered by what the caller
// may see. An external server's tokens are all wharf knows of the caller,
// so there the catalog needs its explicit grant.
func (h *Handler) catalogAccess(route, string) ([]auth.Scope, bool) {
	if h.opts.Guard != nil && h.opts.Guard.Mode == auth.ModeExternalToken {
		return []auth.Scope{{Type: "registry", Name: "catalog", Actions: []string{auth.ActionAll}}}, true
	}
	return nil, false
}

func repoScope(name string, actions ...string) []auth.Scope {
	return []auth.Scope{{Type: "repository", Name: name, Actions: actions}}
}

package server

import (
	"net/http"
	"strings"

	"github.com/wharf-registry/wharf/internal/middleware"
)

// mux routes a request to the surface that owns its path: the registry API
// under /v2, the token endpoint, and whatever later surfaces mount. It is
// deliberately simpler than http.ServeMux: it never cleans or redirects a
// path, because repository names are part of /v2 paths and a name that is
// not clean must reach the API to be refused with NAME_INVALID, not be
// rewritten by a redirect.
type mux struct {
	mounts   []mount
	notFound http.Handler
}

// mount is one surface: the exact path or the prefix it owns, and the
// endpoint name its requests carry in metrics until the surface refines it.
type mount struct {
	path    string
	prefix  bool
	name    string
	handler http.Handler
}

// handle mounts h on exactly path.
func (m *mux) handle(path, name string, h http.Handler) {
	m.mounts = append(m.mounts, mount{path: path, name: name, handler: h})
}

// handlePrefix mounts h on every path that starts with prefix.
func (m *mux) handlePrefix(prefix, name string, h http.Handler) {
	m.mounts = append(m.mounts, mount{path: prefix, prefix: true, name: name, handler: h})
}

// ServeHTTP picks the first mount that owns the path, exact mounts and
// longer prefixes first whatever the order they were added in.
func (m *mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, ok := m.lookup(r.URL.Path); ok {
		middleware.SetEndpoint(r.Context(), mt.name)
		mt.handler.ServeHTTP(w, r)
		return
	}
	m.notFound.ServeHTTP(w, r)
}

func (m *mux) lookup(path string) (mount, bool) {
	var best mount
	found := false
	for _, mt := range m.mounts {
		switch {
		case !mt.prefix && path == mt.path:
			return mt, true
		case mt.prefix && strings.HasPrefix(path, mt.path) && (!found || len(mt.path) > len(best.path)):
			best, found = mt, true
		}
	}
	return best, found
}

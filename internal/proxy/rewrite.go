package proxy

import (
	"net/http"
	"strings"
)

// suffixes are the path shapes after a repository name in /v2 (the API's
// endpoint table); "*" is any one segment.
var suffixes = [][]string{
	{"blobs", "uploads", ""},
	{"blobs", "uploads", "*"},
	{"blobs", "uploads"},
	{"blobs", "*"},
	{"manifests", "*"},
	{"tags", "list"},
	{"referrers", "*"},
	{"_wharf", "info"},
	{"_wharf", "star"},
}

// splitV2 splits /v2/<name>/<suffix> into name and suffix.
func splitV2(path string) (name, suffix string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", false
	}
	seg := strings.Split(rest, "/")
	for _, sfx := range suffixes {
		n := len(seg) - len(sfx)
		if n < 1 {
			continue
		}
		match := true
		for i, s := range sfx {
			if s != "*" && s != seg[n+i] {
				match = false
				break
			}
		}
		if match {
			name := strings.Join(seg[:n], "/")
			// An empty name is left to the API to refuse (NAME_INVALID).
			return name, strings.Join(seg[n:], "/"), name != ""
		}
	}
	return "", "", false
}

// Rewrite maps the ways clients address a mirror onto cached repository
// names before the API sees the request, so routing, authorization and the
// access policy all work on <upstream>/<path>:
//   - ?ns=<host> (containerd's hosts.toml mirrors) selects the upstream
//     configured under that name or alias; it is never dialed;
//   - a first path component naming an upstream or alias (the prefix form,
//     and podman's registries.conf location with a path);
//   - neither: the default upstream, for pulls of names the registry does
//     not host (docker's registry-mirrors); pushes stay hosted.
func (p *Proxy) Rewrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, suffix, ok := splitV2(r.URL.Path)
		if ok {
			if mapped := p.mapName(r, name); mapped != name {
				r.URL.Path = "/v2/" + mapped + "/" + suffix
				r.URL.RawPath = ""
			}
		}
		next.ServeHTTP(w, r)
	})
}

// mapName returns the repository a request's name stands for.
func (p *Proxy) mapName(r *http.Request, name string) string {
	if ns := r.URL.Query().Get("ns"); ns != "" {
		if u := p.byName[strings.ToLower(ns)]; u != nil {
			return u.cfg.Name + "/" + u.remotePath(name)
		}
	}
	first, rest, found := strings.Cut(name, "/")
	if u := p.byName[first]; u != nil && found {
		return u.cfg.Name + "/" + u.remotePath(rest)
	}
	if p.def == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return name
	}
	if hosted, err := p.reg.RepositoryExists(r.Context(), name); err != nil || hosted {
		return name
	}
	return p.def.cfg.Name + "/" + p.def.remotePath(name)
}

// remotePath applies Docker Hub's rule: a one-segment name is library/name.
func (u *upstream) remotePath(path string) string {
	if *u.cfg.Library && !strings.Contains(path, "/") {
		return "library/" + path
	}
	return path
}

package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-registry/wharf/internal/auth"
)

func TestParseRoute(t *testing.T) {
	eps := (&Handler{}).endpointTable()
	tests := []struct {
		path      string
		endpoint  string // "" when no endpoint matches
		name, ref string
	}{
		{"/v2/", "base", "", ""},
		{"/v2", "base", "", ""},
		{"/v2/_catalog", "catalog", "", ""},
		{"/v2/library/hello/manifests/latest", "manifest", "library/hello", "latest"},
		{"/v2/a/b/c/manifests/sha256:abc", "manifest", "a/b/c", "sha256:abc"},
		{"/v2/hello/blobs/sha256:abc", "blob", "hello", "sha256:abc"},
		{"/v2/hello/blobs/uploads/", "upload_start", "hello", ""},
		{"/v2/hello/blobs/uploads", "upload_start", "hello", ""},
		{"/v2/hello/blobs/uploads/1234-abcd", "upload", "hello", "1234-abcd"},
		{"/v2/hello/tags/list", "tags", "hello", ""},
		{"/v2/hello/referrers/sha256:abc", "referrers", "hello", "sha256:abc"},
		// A repository may itself be called "blobs" or "manifests".
		{"/v2/blobs/manifests/latest", "manifest", "blobs", "latest"},
		{"/v2/x/manifests/blobs/sha256:abc", "blob", "x/manifests", "sha256:abc"},
		{"/v2/blobs/uploads/", "", "", ""},
		{"/v2/manifests/latest", "", "", ""},
		{"/v2/hello/unknown", "", "", ""},
		// wharf's own endpoints: "_wharf" cannot be part of a name.
		{"/v2/library/hello/_wharf/info", "wharf_info", "library/hello", ""},
		{"/v2/a/b/_wharf/star", "wharf_star", "a/b", ""},
		{"/v2/_wharf/info", "", "", ""},
		{"/v2/hello/_wharf/other", "", "", ""},
		{"/v2/_catalog/x", "", "", ""},
		// An empty first segment is a name, refused later as invalid.
		{"/v2//manifests/latest", "manifest", "", "latest"},
		{"/v2/a//b/tags/list", "tags", "a//b", ""},
		{"/v2/hello/manifests/", "manifest", "hello", ""},
		{"/v2/hello/tags/list/", "", "", ""},
		{"/v3/hello/manifests/latest", "", "", ""},
		{"/v2x", "", "", ""},
		{"/", "", "", ""},
		{"/auth/token", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := parseRoute(eps, tt.path)
			gotName := ""
			if got.ep != nil {
				gotName = got.ep.name
			}
			if gotName != tt.endpoint || got.name != tt.name || got.ref != tt.ref {
				t.Errorf("parseRoute(%q) = {%q %q %q}, want {%q %q %q}",
					tt.path, gotName, got.name, got.ref, tt.endpoint, tt.name, tt.ref)
			}
		})
	}
}

// TestEndpointAccess pins what each endpoint and method asks of the caller,
// so a new entry in the table cannot silently widen access.
func TestEndpointAccess(t *testing.T) {
	eps := (&Handler{}).endpointTable()
	tests := []struct {
		method, path string
		action       string // the one action needed on the repository; "" for none
		login        bool
	}{
		{http.MethodGet, "/v2/", "", true},
		{http.MethodGet, "/v2/_catalog", "", false},
		{http.MethodGet, "/v2/r/manifests/x", auth.ActionPull, false},
		{http.MethodHead, "/v2/r/manifests/x", auth.ActionPull, false},
		{http.MethodPut, "/v2/r/manifests/x", auth.ActionPush, false},
		{http.MethodDelete, "/v2/r/manifests/x", auth.ActionDelete, false},
		{http.MethodGet, "/v2/r/blobs/sha256:a", auth.ActionPull, false},
		{http.MethodDelete, "/v2/r/blobs/sha256:a", auth.ActionDelete, false},
		{http.MethodPost, "/v2/r/blobs/uploads/", auth.ActionPush, false},
		{http.MethodGet, "/v2/r/blobs/uploads/u", auth.ActionPush, false},
		{http.MethodPatch, "/v2/r/blobs/uploads/u", auth.ActionPush, false},
		{http.MethodGet, "/v2/r/tags/list", auth.ActionPull, false},
		{http.MethodGet, "/v2/r/referrers/sha256:a", auth.ActionPull, false},
		{http.MethodGet, "/v2/r/_wharf/info", auth.ActionPull, false},
		{http.MethodPut, "/v2/r/_wharf/info", auth.ActionPush, false},
		{http.MethodPut, "/v2/r/_wharf/star", auth.ActionPull, true},
		{http.MethodDelete, "/v2/r/_wharf/star", auth.ActionPull, true},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rt := parseRoute(eps, tt.path)
			if rt.ep == nil || rt.ep.handler(tt.method) == nil {
				t.Fatalf("no handler for %s %s", tt.method, tt.path)
			}
			need, login := rt.ep.access(rt, tt.method)
			got := ""
			if len(need) > 0 {
				if len(need) != 1 || need[0].Name != "r" || len(need[0].Actions) != 1 {
					t.Fatalf("need = %+v, want one action on r", need)
				}
				got = need[0].Actions[0]
			}
			if got != tt.action || login != tt.login {
				t.Errorf("access = %q login %v, want %q login %v", got, login, tt.action, tt.login)
			}
		})
	}
}

// FuzzParseRoute checks the slicing parser against the plain reading of
// the rule: split the path on "/", the endpoint's suffix is the last
// segments, and the name is the segments before them, at least one.
func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/a/b/manifests/x", "/v2//blobs/uploads/", "/v2/x/blobs/uploads/u/",
		"/v2/_wharf/info", "/v2/a/_wharf/star", "/v2/blobs/manifests/blobs/sha256:a", "/v2///tags/list"} {
		f.Add(p)
	}
	eps := (&Handler{}).endpointTable()
	f.Fuzz(func(t *testing.T, path string) {
		got, want := parseRoute(eps, path), splitRoute(eps, path)
		if got.ep != want.ep || got.name != want.name || got.ref != want.ref {
			t.Fatalf("parseRoute(%q) = {%v %q %q}, splitting gives {%v %q %q}", path, got.ep, got.name, got.ref, want.ep, want.name, want.ref)
		}
	})
}

// splitRoute is parseRoute written the obvious way, for FuzzParseRoute.
func splitRoute(eps []*endpoint, path string) route {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path != "/v2" {
			return route{}
		}
		rest = ""
	}
	seg := strings.Split(rest, "/")
	for _, ep := range eps {
		if !ep.hasRepository() {
			if rest == ep.path {
				return route{ep: ep}
			}
			continue
		}
		n, k := len(seg), len(ep.suffix)
		if n <= k {
			continue
		}
		rt := route{ep: ep, name: strings.Join(seg[:n-k], "/")}
		matched := true
		for i, want := range ep.suffix {
			switch got := seg[n-k+i]; {
			case want == "*":
				rt.ref = got
			case got != want:
				matched = false
			}
		}
		if matched {
			return rt
		}
	}
	return route{}
}

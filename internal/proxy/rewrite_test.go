package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wharf-registry/wharf/internal/blob"
	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
	"github.com/wharf-registry/wharf/internal/registry"
)

func TestSplitV2(t *testing.T) {
	tests := []struct {
		path, name, suffix string
		ok                 bool
	}{
		{"/v2/library/alpine/manifests/3.20", "library/alpine", "manifests/3.20", true},
		{"/v2/a/blobs/sha256:x", "a", "blobs/sha256:x", true},
		{"/v2/a/b/blobs/uploads/", "a/b", "blobs/uploads/", true},
		{"/v2/a/blobs/uploads/123", "a", "blobs/uploads/123", true},
		{"/v2/a/tags/list", "a", "tags/list", true},
		{"/v2/manifests/manifests/x", "manifests", "manifests/x", true},
		{"/v2/", "", "", false},
		{"/v2/_catalog", "", "", false},
		{"/v1/x/manifests/y", "", "", false},
	}
	for _, tc := range tests {
		name, suffix, ok := splitV2(tc.path)
		if name != tc.name || suffix != tc.suffix || ok != tc.ok {
			t.Errorf("splitV2(%q) = %q, %q, %t; want %q, %q, %t", tc.path, name, suffix, ok, tc.name, tc.suffix, tc.ok)
		}
	}
}

// TestRewrite checks every addressing form against a registry that hosts
// one repository.
func TestRewrite(t *testing.T) {
	ctx := context.Background()
	md, err := meta.OpenSQLite(ctx, t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	fs, err := blob.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(fs, md, registry.Options{}, nil)
	if _, err := reg.PutBlob(ctx, "team/app", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", http.NoBody); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	p, err := New(reg, Options{Upstreams: []config.Upstream{
		{Name: "docker.io", Aliases: []string{"hub"}, URL: "http://127.0.0.1:1", Default: true, Library: &yes},
		{Name: "quay.io", URL: "http://127.0.0.1:1", Library: &no},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target, want string
	}{
		{"GET", "/v2/library/alpine/manifests/3", "/v2/docker.io/library/alpine/manifests/3"},
		{"GET", "/v2/alpine/manifests/3?ns=docker.io", "/v2/docker.io/library/alpine/manifests/3"},
		{"GET", "/v2/org/tool/manifests/1?ns=quay.io", "/v2/quay.io/org/tool/manifests/1"},
		{"GET", "/v2/tool/manifests/1?ns=quay.io", "/v2/quay.io/tool/manifests/1"},
		{"GET", "/v2/x/manifests/1?ns=unknown.example", "/v2/docker.io/library/x/manifests/1"},
		{"GET", "/v2/hub/alpine/blobs/sha256:a", "/v2/docker.io/library/alpine/blobs/sha256:a"},
		{"GET", "/v2/quay.io/org/tool/manifests/1", "/v2/quay.io/org/tool/manifests/1"},
		{"GET", "/v2/team/app/manifests/1", "/v2/team/app/manifests/1"}, // hosted
		{"POST", "/v2/new/app/blobs/uploads/", "/v2/new/app/blobs/uploads/"},
		{"PUT", "/v2/hub/x/manifests/1", "/v2/docker.io/library/x/manifests/1"}, // refused later
		{"GET", "/v2/", "/v2/"},
		{"GET", "/v2/_catalog", "/v2/_catalog"},
	}
	for _, tc := range tests {
		var got string
		h := p.Rewrite(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.URL.Path }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.target, nil))
		if got != tc.want {
			t.Errorf("%s %s -> %s, want %s", tc.method, tc.target, got, tc.want)
		}
	}
	for repo, want := range map[string]bool{"docker.io/library/x": true, "quay.io/a": true, "hub/x": false, "team/app": false, "docker.io": false} {
		if got := p.Cached(repo); got != want {
			t.Errorf("Cached(%q) = %t, want %t", repo, got, want)
		}
	}
}

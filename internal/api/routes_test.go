package api

import "testing"

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: routeBase}},
		{"/v2", route{kind: routeBase}},
		{"/v2/_catalog", route{kind: routeCatalog}},
		{"/v2/library/hello/manifests/latest", route{routeManifest, "library/hello", "latest"}},
		{"/v2/a/b/c/manifests/sha256:abc", route{routeManifest, "a/b/c", "sha256:abc"}},
		{"/v2/hello/blobs/sha256:abc", route{routeBlob, "hello", "sha256:abc"}},
		{"/v2/hello/blobs/uploads/", route{routeUploads, "hello", ""}},
		{"/v2/hello/blobs/uploads", route{routeUploads, "hello", ""}},
		{"/v2/hello/blobs/uploads/1234-abcd", route{routeUpload, "hello", "1234-abcd"}},
		{"/v2/hello/tags/list", route{routeTags, "hello", ""}},
		{"/v2/hello/referrers/sha256:abc", route{routeReferrers, "hello", "sha256:abc"}},
		// A repository may itself be called "blobs" or "manifests".
		{"/v2/blobs/manifests/latest", route{routeManifest, "blobs", "latest"}},
		{"/v2/x/manifests/blobs/sha256:abc", route{routeBlob, "x/manifests", "sha256:abc"}},
		{"/v2/hello/unknown", route{}},
		{"/v3/hello/manifests/latest", route{}},
		{"/", route{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := parseRoute(tt.path); got != tt.want {
				t.Errorf("parseRoute(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}

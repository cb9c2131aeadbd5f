package notify

import "testing"

// TestSplitContentPath: only manifest and blob paths make pull events;
// upload, tag-list and other paths do not, whatever the repository name.
func TestSplitContentPath(t *testing.T) {
	tests := []struct {
		path, repo, kind, ref string
		ok                    bool
	}{
		{"/v2/library/alpine/manifests/3.20", "library/alpine", "manifests", "3.20", true},
		{"/v2/a/manifests/sha256:abc", "a", "manifests", "sha256:abc", true},
		{"/v2/team/app/blobs/sha256:abc", "team/app", "blobs", "sha256:abc", true},
		{"/v2/blobs/blobs/sha256:abc", "blobs", "blobs", "sha256:abc", true},
		{"/v2/a/manifests/manifests/x", "a/manifests", "manifests", "x", true},
		{"/v2/a/blobs/uploads/", "", "", "", false},
		{"/v2/a/blobs/uploads/0123-id", "", "", "", false},
		{"/v2/a/tags/list", "", "", "", false},
		{"/v2/a/referrers/sha256:abc", "", "", "", false},
		{"/v2/manifests/x", "", "", "", false},
		{"/v2/", "", "", "", false},
		{"/v1/a/manifests/x", "", "", "", false},
		{"/v2/a/manifests/", "", "", "", false},
	}
	for _, tt := range tests {
		repo, kind, ref, ok := splitContentPath(tt.path)
		if ok != tt.ok || repo != tt.repo || kind != tt.kind || ref != tt.ref {
			t.Errorf("splitContentPath(%q) = %q, %q, %q, %v; want %q, %q, %q, %v",
				tt.path, repo, kind, ref, ok, tt.repo, tt.kind, tt.ref, tt.ok)
		}
	}
}

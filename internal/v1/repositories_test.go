package v1

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		path string
		want request
	}{
		{"/v1/repositories/library/centos6.6/tags", request{kindTags, "library/centos6.6", ""}},
		{"/v1/repositories/registry/tags", request{kindTags, "library/registry", ""}},
		{"/v1/repositories/a/b/c/tags", request{kindTags, "a/b/c", ""}},
		{"/v1/repositories/reynholm/help-system-server/tags/latest", request{kindTag, "reynholm/help-system-server", "latest"}},
		{"/v1/repositories/hello/tags/v1", request{kindTag, "library/hello", "v1"}},
		{"/v1/repositories/reynholm/help-system-server/", request{kindRepo, "reynholm/help-system-server", ""}},
		{"/v1/repositories/hello/", request{kindRepo, "library/hello", ""}},
		// A repository may be called "tags": the trailing slash tells.
		{"/v1/repositories/x/tags/", request{kindRepo, "x/tags", ""}},
		{"/v1/repositories/tags", request{}},
		{"/v1/repositories/", request{}},
		{"/v1/repositories/hello", request{}},
		{"/v1/search", request{}},
	}
	for _, tt := range tests {
		if got := parse(tt.path); got != tt.want {
			t.Errorf("parse(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

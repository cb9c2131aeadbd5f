package proxy

import (
	"strings"
	"testing"
)

// FuzzParseChallenge: any WWW-Authenticate an upstream sends is parsed
// without panicking, into a lower-case scheme and lower-case keys.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
		`Basic realm="x"`, `Bearer realm="r`, `Bearer ,,,=,"`, `bearer a=b, c="d,e"`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		scheme, params := parseChallenge(h)
		if scheme != strings.ToLower(scheme) {
			t.Errorf("scheme %q not lower case", scheme)
		}
		for k := range params {
			if k != strings.ToLower(k) {
				t.Errorf("key %q not lower case", k)
			}
		}
	})
}

// FuzzSplitV2: a split name and suffix join back into the path.
func FuzzSplitV2(f *testing.F) {
	for _, s := range []string{"/v2/a/b/manifests/x", "/v2/a/blobs/uploads/", "/v2//tags/list", "/v2/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		name, suffix, ok := splitV2(path)
		if ok && "/v2/"+name+"/"+suffix != path {
			t.Errorf("splitV2(%q) = %q + %q", path, name, suffix)
		}
		if ok && name == "" {
			t.Errorf("splitV2(%q): empty name", path)
		}
	})
}

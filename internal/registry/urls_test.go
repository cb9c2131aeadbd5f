package registry

import (
	"regexp"
	"testing"
)

func TestURLPolicy(t *testing.T) {
	res := func(exprs ...string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, e := range exprs {
			out = append(out, regexp.MustCompile(e))
		}
		return out
	}
	allow := res(`^https?://([^/]+\.)*example\.com/`)
	deny := res(`^https?://www\.example\.com/`)
	tests := []struct {
		name   string
		policy URLPolicy
		urls   []string
		ok     bool
	}{
		{"no URLs under the default", URLPolicy{}, nil, true},
		{"a URL under the default", URLPolicy{}, []string{"https://cdn.example.com/l"}, true},
		{"not http under the default", URLPolicy{}, []string{"file:///etc/passwd"}, false},
		{"denied under the default allow", URLPolicy{Deny: deny}, []string{"https://www.example.com/l"}, false},
		{"allowed", URLPolicy{Allow: allow}, []string{"https://cdn.example.com/l"}, true},
		{"not allowed", URLPolicy{Allow: allow}, []string{"https://evil.test/l"}, false},
		{"one of two not allowed", URLPolicy{Allow: allow}, []string{"https://cdn.example.com/l", "https://evil.test/l"}, false},
		{"allowed then denied", URLPolicy{Allow: allow, Deny: deny}, []string{"https://www.example.com/l"}, false},
		{"allowed not denied", URLPolicy{Allow: allow, Deny: deny}, []string{"https://a.example.com/l"}, true},
		{"not http", URLPolicy{Allow: res(".*")}, []string{"ftp://example.com/l"}, false},
		{"fragment", URLPolicy{Allow: res(".*")}, []string{"https://example.com/l#x"}, false},
		{"validation disabled", URLPolicy{Disabled: true}, []string{"ftp://anything"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.check(tt.urls)
			if (err == nil) != tt.ok {
				t.Fatalf("check(%v) = %v, want ok %v", tt.urls, err, tt.ok)
			}
			if err != nil {
				if e, ok := AsError(err); !ok || e.Code != CodeManifestInvalid {
					t.Errorf("error %v is not MANIFEST_INVALID", err)
				}
			}
		})
	}
}

func TestLayerURLs(t *testing.T) {
	got := layerURLs([]byte(`{"layers":[{"urls":["a","b"]},{"digest":"x"},{"urls":["c"]}],"config":{"urls":["not a layer"]}}`))
	if len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Errorf("layerURLs = %v, want [a b c]", got)
	}
}

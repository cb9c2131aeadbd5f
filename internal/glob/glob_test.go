package glob

import "testing"

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything/with/slashes", true},
		{"library/app", "library/app", true},
		{"library/app", "library/app2", false},
		{"library/app", "library/ap", false},
		{"library/*", "library/app", true},
		{"library/*", "library/a/b/c", true},
		{"library/*", "library/", true},
		{"library/*", "library", false},
		{"library/*", "other/app", false},
		{"*/app", "team/sub/app", true},
		{"*/app", "app", false},
		{"*/app", "team/app2", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "a-x-b-y-c", true},
		{"a*b*c", "a-x-c-y-b", false},
		{"a*b*c", "abcabc", true},
		{"a*b*c", "abcab", false},
		{"v*", "v1.2.3", true},
		{"v*", "v", true},
		{"v*", "release-v1", false},
		{"*-rc*", "1.0-rc1", true},
		{"*-rc*", "1.0", false},
		{"**", "x", true},
		{"latest", "LATEST", false},
		{"?", "a", false}, // only * is special
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %t, want %t", c.pattern, c.s, got, c.want)
		}
	}
}

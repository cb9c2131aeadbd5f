// Package glob matches the patterns wharf's configuration uses for
// repositories and tags: * matches any run of characters, slashes
// included; every other character matches itself.
package glob

import "strings"

// Match reports whether s matches pattern.
func Match(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	rest := pattern[star+1:]
	for i := star; i <= len(s); i++ {
		if Match(rest, s[i:]) {
			return true
		}
	}
	return false
}

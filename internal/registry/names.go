package registry

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// maxNameLength bounds a repository name, as distribution and Docker Hub do.
const maxNameLength = 255

// ValidateName checks a repository name against the distribution spec's
// grammar, `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
// It runs on every request, so it is a loop rather than that regular
// expression (which cost 2% of a manifest GET's CPU); names_test.go holds
// the expression and checks the two agree.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > maxNameLength || !validName(name) {
		return errorf(CodeNameInvalid, "invalid repository name %q", truncate(name))
	}
	return nil
}

func validName(name string) bool {
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			if !validComponent(name[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// validComponent: alphanumeric runs joined by ".", "_", "__" or dashes.
func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); {
		if isLowerAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isLowerAlnum(c[j]) {
			j++
		}
		if !validSeparator(c[i:j]) {
			return false
		}
		i = j
	}
	return true
}

func validSeparator(sep string) bool {
	switch sep {
	case ".", "_", "__":
		return true
	}
	for i := 0; i < len(sep); i++ {
		if sep[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

// ValidateTag checks a tag against the spec's grammar,
// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
func ValidateTag(tag string) error {
	if !validTag(tag) {
		return errorf(CodeTagInvalid, "invalid tag %q", truncate(tag))
	}
	return nil
}

func validTag(tag string) bool {
	if len(tag) == 0 || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		b := tag[i]
		if !(isLowerAlnum(b) || 'A' <= b && b <= 'Z' || b == '_' || b == '.' || b == '-') {
			return false
		}
	}
	return true
}

// ParseDigest parses and validates a digest of a supported algorithm.
func ParseDigest(s string) (digest.Digest, error) {
	if isSHA256Digest(s) {
		// go-digest checks the hex with a regular expression, a
		// microsecond of every blob HEAD; this is the same rule.
		return digest.Digest(s), nil
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf(CodeDigestInvalid, "invalid digest %q: %v", truncate(s), err)
	}
	if !d.Algorithm().Available() {
		return "", errorf(CodeDigestInvalid, "unsupported digest algorithm %q", d.Algorithm())
	}
	return d, nil
}

// isSHA256Digest reports whether s is "sha256:" and 64 lowercase hex
// digits, the canonical form of every digest clients send.
func isSHA256Digest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsDigest reports whether a manifest reference looks like a digest rather
// than a tag (tags cannot contain a colon).
func IsDigest(ref string) bool {
	for i := 0; i < len(ref); i++ {
		if ref[i] == ':' {
			return true
		}
	}
	return false
}

// truncate keeps error messages short for absurdly long input.
func truncate(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

package registry

import (
	"regexp"

	"github.com/opencontainers/go-digest"
)

// maxNameLength bounds a repository name, as distribution and Docker Hub do.
const maxNameLength = 255

var (
	// nameRE is the distribution spec's repository name grammar.
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is the spec's tag grammar: at most 128 characters.
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidateName checks a repository name against the spec's grammar.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > maxNameLength || !nameRE.MatchString(name) {
		return errorf(CodeNameInvalid, "invalid repository name %q", truncate(name))
	}
	return nil
}

// ValidateTag checks a tag against the spec's grammar.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return errorf(CodeTagInvalid, "invalid tag %q", truncate(tag))
	}
	return nil
}

// ParseDigest parses and validates a digest of a supported algorithm.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf(CodeDigestInvalid, "invalid digest %q: %v", truncate(s), err)
	}
	if !d.Algorithm().Available() {
		return "", errorf(CodeDigestInvalid, "unsupported digest algorithm %q", d.Algorithm())
	}
	return d, nil
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

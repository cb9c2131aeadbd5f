package registry

import (
	"encoding/json"
	"net/url"
	"regexp"
)

// URLPolicy is which URLs the layers of a pushed manifest may name
// (validation.manifests.urls): a foreign or non-distributable layer is
// fetched by clients from its URLs, so where they point is the registry
// operator's to restrict. The zero value allows any http or https URL, as
// the image spec does (and the OCI conformance suite's non-distributable
// data needs); distribution refuses every URL until an allow list is set,
// which is the one place wharf's default differs from registry:2's.
type URLPolicy struct {
	// Disabled accepts any URL (validation.disabled).
	Disabled bool
	// Allow: every URL must match one of these; empty allows any http or
	// https URL.
	Allow []*regexp.Regexp
	// Deny: no URL may match any of these.
	Deny []*regexp.Regexp
}

// check returns MANIFEST_INVALID naming the first URL the policy refuses.
func (p URLPolicy) check(urls []string) error {
	if p.Disabled {
		return nil
	}
	for _, u := range urls {
		if why := p.refuses(u); why != "" {
			return errorf(CodeManifestInvalid, "layer URL %q %s (validation.manifests.urls)", u, why)
		}
	}
	return nil
}

func (p URLPolicy) refuses(u string) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Fragment != "" {
		return "is not an http or https URL without a fragment"
	}
	if len(p.Allow) > 0 && !matchesAny(p.Allow, u) {
		return "matches no allowed pattern"
	}
	if matchesAny(p.Deny, u) {
		return "matches a denied pattern"
	}
	return ""
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// layerURLs lists the URLs the layers of an image manifest name. The
// payload has been parsed as a manifest already; a payload without layers
// names none.
func layerURLs(payload []byte) []string {
	var m struct {
		Layers []struct {
			URLs []string `json:"urls"`
		} `json:"layers"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.URLs...)
	}
	return out
}

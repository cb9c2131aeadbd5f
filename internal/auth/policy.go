// Package auth decides who is asking (htpasswd basic auth, tokens from
// wharf's own token server or an external one) and what they may do (the
// access policy). It knows requests only as the scopes they need.
package auth

import (
	"slices"
	"strings"

	"github.com/wharf-registry/wharf/internal/glob"
)

// Actions on repositories.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
	// ActionSearch on registry:catalog lets a token search: the docker
	// daemon asks for it before /v1/search. What a search shows still
	// follows the policy, so every caller may have it.
	ActionSearch = "search"
)

// Scope is what a request needs or a token grants: a resource (type and
// name) and actions on it, as in the Docker token spec
// ("repository:library/alpine:pull,push", "registry:catalog:*").
type Scope struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ParseScope parses one scope string. Repository names contain no colon
// except before a port of a host-qualified name, so the type is before the
// first colon and the actions after the last.
func ParseScope(s string) (Scope, bool) {
	first := strings.IndexByte(s, ':')
	last := strings.LastIndexByte(s, ':')
	if first < 0 || last == first {
		return Scope{}, false
	}
	sc := Scope{Type: s[:first], Name: s[first+1 : last]}
	for _, a := range strings.Split(s[last+1:], ",") {
		if a != "" {
			sc.Actions = append(sc.Actions, a)
		}
	}
	return sc, sc.Type != "" && sc.Name != ""
}

// String formats a scope for a WWW-Authenticate challenge.
func (s Scope) String() string {
	return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// Identity is who a request comes from.
type Identity struct {
	User      string // empty when anonymous
	Anonymous bool
}

// Policy says which actions an identity may take on a repository.
type Policy struct {
	// Open: no access section configured; every authenticated user may do
	// everything, as with distribution's htpasswd.
	Open           bool
	Admins         []string
	Groups         map[string][]string
	Public         []string
	UserNamespaces bool
	Rules          []Rule
}

// Rule grants actions on repositories matching a glob to users and groups.
type Rule struct {
	Repositories string
	Users        []string
	Groups       []string
	Actions      []string
}

// Allowed returns the actions id may take on repository name.
func (p *Policy) Allowed(id Identity, name string) []string {
	if id.Anonymous {
		if matchAny(p.Public, name) {
			return []string{ActionPull}
		}
		return nil
	}
	if p.Open || slices.Contains(p.Admins, id.User) {
		return []string{ActionPull, ActionPush, ActionDelete}
	}
	set := map[string]bool{}
	if matchAny(p.Public, name) {
		set[ActionPull] = true
	}
	if p.UserNamespaces && strings.HasPrefix(name, id.User+"/") {
		set[ActionPull], set[ActionPush], set[ActionDelete] = true, true, true
	}
	for _, r := range p.Rules {
		if !glob.Match(r.Repositories, name) || !p.ruleApplies(r, id.User) {
			continue
		}
		for _, a := range r.Actions {
			if a == ActionAll {
				set[ActionPull], set[ActionPush], set[ActionDelete] = true, true, true
				continue
			}
			set[a] = true
		}
	}
	var out []string
	for _, a := range []string{ActionPull, ActionPush, ActionDelete} {
		if set[a] {
			out = append(out, a)
		}
	}
	return out
}

// PullPatterns returns globs whose union is every repository id may pull,
// so that a listing can filter in its database query: the public globs,
// the caller's namespace, and the globs of the rules granting the caller
// pull. Never nil: an empty list means nothing.
func (p *Policy) PullPatterns(id Identity) []string {
	out := append([]string{}, p.Public...)
	if id.Anonymous {
		return out
	}
	if p.Open || slices.Contains(p.Admins, id.User) {
		return []string{"*"}
	}
	// A '*' in a user name would widen the namespace glob: such a user
	// gets no namespace pattern (nor, by Allowed, anything it would add).
	if p.UserNamespaces && id.User != "" && !strings.Contains(id.User, "*") {
		out = append(out, id.User+"/*")
	}
	for _, r := range p.Rules {
		if p.ruleApplies(r, id.User) && (slices.Contains(r.Actions, ActionPull) || slices.Contains(r.Actions, ActionAll)) {
			out = append(out, r.Repositories)
		}
	}
	return out
}

// CanCatalog reports whether id may list every repository unfiltered.
func (p *Policy) CanCatalog(id Identity) bool {
	return !id.Anonymous && (p.Open || slices.Contains(p.Admins, id.User))
}

func (p *Policy) ruleApplies(r Rule, user string) bool {
	if slices.Contains(r.Users, user) {
		return true
	}
	for _, g := range r.Groups {
		if slices.Contains(p.Groups[g], user) {
			return true
		}
	}
	return false
}

// Grant intersects what a request asks with what the policy allows.
func (p *Policy) Grant(id Identity, want []Scope) []Scope {
	var out []Scope
	for _, sc := range want {
		var allowed []string
		switch {
		case sc.Type == "repository":
			allowed = p.Allowed(id, sc.Name)
		case sc.Type == "registry" && sc.Name == "catalog" && p.CanCatalog(id):
			allowed = []string{ActionAll}
		case sc.Type == "registry" && sc.Name == "catalog":
			allowed = []string{ActionSearch}
		}
		all := slices.Contains(allowed, ActionAll) ||
			(slices.Contains(allowed, ActionPull) && slices.Contains(allowed, ActionPush) && slices.Contains(allowed, ActionDelete))
		var got []string
		for _, a := range sc.Actions {
			known := a == ActionPull || a == ActionPush || a == ActionDelete || a == ActionAll ||
				(a == ActionSearch && sc.Type == "registry")
			if slices.Contains(allowed, a) || (all && known) {
				got = append(got, a)
			}
		}
		if len(got) > 0 {
			out = append(out, Scope{Type: sc.Type, Name: sc.Name, Actions: got})
		}
	}
	return out
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob.Match(p, s) {
			return true
		}
	}
	return false
}

package auth

import (
	"reflect"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Scope
		ok   bool
	}{
		{"repository:library/alpine:pull", Scope{"repository", "library/alpine", []string{"pull"}}, true},
		{"repository:library/alpine:pull,push", Scope{"repository", "library/alpine", []string{"pull", "push"}}, true},
		{"repository:a/b/c:pull,push,delete", Scope{"repository", "a/b/c", []string{"pull", "push", "delete"}}, true},
		// A host-qualified name keeps its port: type before the first
		// colon, actions after the last.
		{"repository:localhost:5000/foo:pull", Scope{"repository", "localhost:5000/foo", []string{"pull"}}, true},
		{"registry:catalog:*", Scope{"registry", "catalog", []string{"*"}}, true},
		// Empty actions are dropped.
		{"repository:foo:pull,,push,", Scope{"repository", "foo", []string{"pull", "push"}}, true},
		{"repository:foo:", Scope{"repository", "foo", nil}, true},
		{"repository:foo", Scope{}, false},
		{"foo", Scope{}, false},
		{"", Scope{}, false},
		{":foo:pull", Scope{}, false},
		{"repository::pull", Scope{}, false},
	} {
		got, ok := ParseScope(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseScope(%q) ok = %v, want %v (got %+v)", tc.in, ok, tc.ok, got)
			continue
		}
		if ok && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseScope(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestScopeStringRoundTrip(t *testing.T) {
	for _, s := range []string{"repository:library/alpine:pull,push", "registry:catalog:*", "repository:localhost:5000/x/y:delete"} {
		sc, ok := ParseScope(s)
		if !ok {
			t.Fatalf("ParseScope(%q) failed", s)
		}
		if got := sc.String(); got != s {
			t.Errorf("String() = %q, want %q", got, s)
		}
	}
	if got := parseScopes([]string{"repository:a:pull repository:b:push", "bogus", "registry:catalog:*"}); len(got) != 3 ||
		got[0].Name != "a" || got[1].Name != "b" || got[2].Type != "registry" {
		t.Errorf("parseScopes: %+v, want a, b and the catalog (the bogus one dropped)", got)
	}
}

// testPolicy is the policy of the README example.
func testPolicy() *Policy {
	return &Policy{
		Admins:         []string{"alice"},
		Groups:         map[string][]string{"devs": {"bob", "carol"}, "ops": {"dave"}},
		Public:         []string{"library/*", "tools/*"},
		UserNamespaces: true,
		Rules: []Rule{
			{Repositories: "team-a/*", Groups: []string{"devs"}, Actions: []string{"pull", "push"}},
			{Repositories: "releases/*", Users: []string{"ci-bot"}, Actions: []string{"*"}},
			{Repositories: "ops/*", Groups: []string{"ops"}, Actions: []string{"pull"}},
			{Repositories: "ops/*", Users: []string{"dave"}, Actions: []string{"delete"}},
		},
	}
}

func TestPolicyAllowed(t *testing.T) {
	p := testPolicy()
	user := func(u string) Identity { return Identity{User: u} }
	anon := Identity{Anonymous: true}
	all := []string{"pull", "push", "delete"}
	for _, tc := range []struct {
		id   Identity
		repo string
		want []string
	}{
		{user("alice"), "anything/at/all", all},
		{user("alice"), "bob/private", all},
		{anon, "library/alpine", []string{"pull"}},
		{anon, "tools/x/y", []string{"pull"}},
		{anon, "bob/private", nil},
		{anon, "team-a/app", nil},
		{user("bob"), "library/alpine", []string{"pull"}},
		{user("bob"), "bob/app", all},
		{user("bob"), "bob/a/b", all},
		{user("bob"), "bobby/app", nil}, // a prefix of the name is not the namespace
		{user("bob"), "bob", nil},
		{user("bob"), "carol/app", nil},
		{user("bob"), "team-a/app", []string{"pull", "push"}},
		{user("carol"), "team-a/app", []string{"pull", "push"}},
		{user("eve"), "team-a/app", nil},
		{user("eve"), "library/alpine", []string{"pull"}},
		{user("ci-bot"), "releases/v1", all},
		{user("ci-bot"), "team-a/app", nil},
		// Rules add up: ops pull from the group, delete for dave himself.
		{user("dave"), "ops/tool", []string{"pull", "delete"}},
		{user("carol"), "ops/tool", nil},
		// A user named like a group is not in it.
		{user("devs"), "team-a/app", nil},
	} {
		if got := p.Allowed(tc.id, tc.repo); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Allowed(%+v, %q) = %v, want %v", tc.id, tc.repo, got, tc.want)
		}
	}
}

func TestPolicyUserNamespacesOff(t *testing.T) {
	p := testPolicy()
	p.UserNamespaces = false
	if got := p.Allowed(Identity{User: "bob"}, "bob/app"); got != nil {
		t.Errorf("usernamespaces off: bob on bob/app = %v, want nothing", got)
	}
	if got := p.Allowed(Identity{User: "bob"}, "team-a/app"); !reflect.DeepEqual(got, []string{"pull", "push"}) {
		t.Errorf("usernamespaces off: rules still apply: %v", got)
	}
}

func TestPolicyOpen(t *testing.T) {
	p := &Policy{Open: true}
	if got := p.Allowed(Identity{User: "anyone"}, "x/y"); !reflect.DeepEqual(got, []string{"pull", "push", "delete"}) {
		t.Errorf("open policy, logged in: %v, want everything", got)
	}
	if got := p.Allowed(Identity{Anonymous: true}, "x/y"); got != nil {
		t.Errorf("open policy, anonymous: %v, want nothing", got)
	}
	if !p.CanCatalog(Identity{User: "anyone"}) || p.CanCatalog(Identity{Anonymous: true}) {
		t.Errorf("open policy: catalog for every logged-in user, not for anonymous")
	}
}

func TestPolicyCanCatalog(t *testing.T) {
	p := testPolicy()
	for _, tc := range []struct {
		id   Identity
		want bool
	}{
		{Identity{User: "alice"}, true},
		{Identity{User: "bob"}, false},
		{Identity{Anonymous: true}, false},
		// An anonymous identity carrying an admin's name is still anonymous.
		{Identity{User: "alice", Anonymous: true}, false},
	} {
		if got := p.CanCatalog(tc.id); got != tc.want {
			t.Errorf("CanCatalog(%+v) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestPolicyGrant(t *testing.T) {
	p := testPolicy()
	sc := func(s string) Scope {
		x, ok := ParseScope(s)
		if !ok {
			t.Fatalf("bad scope %q", s)
		}
		return x
	}
	scopes := func(ss ...string) []Scope {
		var out []Scope
		for _, s := range ss {
			out = append(out, sc(s))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		id   Identity
		want []Scope
		got  []Scope
	}{
		{"bob own namespace", Identity{User: "bob"},
			scopes("repository:bob/app:pull,push,delete"), scopes("repository:bob/app:pull,push,delete")},
		{"bob public: pull only", Identity{User: "bob"},
			scopes("repository:library/alpine:pull,push"), scopes("repository:library/alpine:pull")},
		{"bob foreign: nothing", Identity{User: "bob"},
			scopes("repository:carol/app:pull,push"), nil},
		{"bob several", Identity{User: "bob"},
			scopes("repository:carol/app:pull", "repository:bob/x:push", "repository:team-a/y:delete,pull"),
			scopes("repository:bob/x:push", "repository:team-a/y:pull")},
		{"bob catalog: nothing", Identity{User: "bob"}, scopes("registry:catalog:*"), nil},
		{"alice catalog", Identity{User: "alice"}, scopes("registry:catalog:*"), scopes("registry:catalog:*")},
		{"bob search", Identity{User: "bob"}, scopes("registry:catalog:search"), scopes("registry:catalog:search")},
		{"bob catalog and search: search only", Identity{User: "bob"}, scopes("registry:catalog:*,search"), scopes("registry:catalog:search")},
		{"alice search", Identity{User: "alice"}, scopes("registry:catalog:search"), scopes("registry:catalog:search")},
		{"anonymous search", Identity{Anonymous: true}, scopes("registry:catalog:search"), scopes("registry:catalog:search")},
		{"search on a repository: nothing", Identity{User: "alice"}, scopes("repository:x:search"), nil},
		{"alice other registry resource", Identity{User: "alice"}, scopes("registry:other:*"), nil},
		{"anonymous public", Identity{Anonymous: true},
			scopes("repository:library/alpine:pull,push"), scopes("repository:library/alpine:pull")},
		{"anonymous private", Identity{Anonymous: true}, scopes("repository:bob/app:pull"), nil},
		{"unknown type", Identity{User: "alice"}, scopes("foo:bar:pull"), nil},
		{"unknown action", Identity{User: "alice"}, scopes("repository:x:frobnicate,pull"), scopes("repository:x:pull")},
	} {
		if got := p.Grant(tc.id, tc.want); !reflect.DeepEqual(got, tc.got) {
			t.Errorf("%s: Grant = %+v, want %+v", tc.name, got, tc.got)
		}
	}
}

// TestVisiblePatternsMatchCanSee checks that the globs a listing filters
// by in its query select exactly what CanSee accepts, for callers of every
// kind over names that rules, namespaces and public globs touch.
func TestVisiblePatternsMatchCanSee(t *testing.T) {
	policy := &Policy{
		Admins:         []string{"root"},
		Groups:         map[string][]string{"team-a": {"ann", "bob"}},
		Public:         []string{"library/*", "pub"},
		UserNamespaces: true,
		Rules: []Rule{
			{Repositories: "team-a/*", Groups: []string{"team-a"}, Actions: []string{ActionPull, ActionPush}},
			{Repositories: "*/shared", Users: []string{"carl"}, Actions: []string{ActionAll}},
			{Repositories: "drop/*", Users: []string{"carl"}, Actions: []string{ActionPush}},
		},
	}
	names := []string{"library/alpine", "library", "pub", "pub/x", "team-a/app", "team-a", "team-b/app",
		"x/shared", "shared", "ann/tool", "bob/tool", "carl/tool", "drop/in", "anna/tool", "a/b/shared"}
	decisions := map[string]*Decision{
		"anonymous":   {Identity: Identity{Anonymous: true}, policy: policy},
		"ann":         {Identity: Identity{User: "ann"}, policy: policy},
		"carl":        {Identity: Identity{User: "carl"}, policy: policy},
		"root":        {Identity: Identity{User: "root"}, policy: policy},
		"nobody":      {Identity: Identity{User: "nobody"}, policy: policy},
		"ann's token": {Identity: Identity{User: "ann"}, policy: policy, scopes: []Scope{{Type: "repository", Name: "team-b/app", Actions: []string{ActionPull}}}},
		"foreign token": {Identity: Identity{User: "ext"}, scopes: []Scope{
			{Type: "repository", Name: "team-b/app", Actions: []string{ActionPull}},
			{Type: "repository", Name: "drop/in", Actions: []string{ActionPush}},
			{Type: "repository", Name: "x/*", Actions: []string{ActionAll}},
		}},
		"open policy": {Identity: Identity{User: "any"}, policy: &Policy{Open: true}},
	}
	for who, d := range decisions {
		patterns := d.VisiblePatterns()
		if patterns == nil {
			t.Errorf("%s: nil patterns", who)
		}
		for _, name := range names {
			if got, want := matchAny(patterns, name), d.CanSee(name); got != want {
				t.Errorf("%s: %s matched by %q = %t, CanSee = %t", who, name, patterns, got, want)
			}
		}
	}
}

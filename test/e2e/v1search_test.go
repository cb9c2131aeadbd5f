package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// v1SearchAnswer is the v1 search body as clients decode it.
type v1SearchAnswer struct {
	Query      string `json:"query"`
	NumResults int    `json:"num_results"`
	NumPages   int    `json:"num_pages"`
	Page       int    `json:"page"`
	PageSize   int    `json:"page_size"`
	Results    []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		StarCount   int    `json:"star_count"`
		IsOfficial  bool   `json:"is_official"`
		IsAutomated bool   `json:"is_automated"`
	} `json:"results"`
}

func (a v1SearchAnswer) names() []string {
	out := []string{}
	for _, r := range a.Results {
		out = append(out, r.Name)
	}
	return out
}

// v1Search GETs /v1/search with params and the Authorization header auth
// (none when empty); it fails the test unless the answer is 200 JSON with
// every field clients read.
func v1Search(t *testing.T, s *Server, params url.Values, auth string) v1SearchAnswer {
	t.Helper()
	hdr := map[string]string{}
	if auth != "" {
		hdr["Authorization"] = auth
	}
	r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/v1/search?" + params.Encode(), Header: hdr})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/search?%s = %d %s, want 200", params.Encode(), r.Status, r.Body)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		t.Fatalf("search body %s: %v", r.Body, err)
	}
	for _, f := range []string{"query", "num_results", "num_pages", "page", "page_size", "results"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("search body %s lacks %q", r.Body, f)
		}
	}
	if string(fields["results"]) == "null" {
		t.Errorf("results = null, want a list")
	}
	var a v1SearchAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("search body %s: %v", r.Body, err)
	}
	return a
}

// TestV1SearchContract checks the answer's fields, ranking, the clamping
// of n and paging, against a registry without auth.
func TestV1SearchContract(t *testing.T) {
	s := StartServer(t, ServerOptions{})
	data := []byte("search contract blob")
	repos := []string{"zz/myhttpd", "web/httpd-alpine", "httpd-tools", "library/httpd", "httpd", "nginx"}
	for i := range 30 {
		repos = append(repos, fmt.Sprintf("many/repo-%02d", i))
	}
	for _, repo := range repos {
		whUploadBlob(t, s, repo, data)
	}
	pages := func(of []string, size int) []string {
		if size > len(of) {
			return of
		}
		return of[:size]
	}
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("many/repo-%02d", i))
	}
	all := slices.Sorted(slices.Values(repos))
	tests := []struct {
		name   string
		params url.Values
		want   v1SearchAnswer
		names  []string
	}{
		{"ranked: exact, last segment, prefix, substring", url.Values{"q": {"httpd"}},
			v1SearchAnswer{Query: "httpd", NumResults: 5, NumPages: 1, Page: 1, PageSize: 25},
			[]string{"httpd", "library/httpd", "httpd-tools", "web/httpd-alpine", "zz/myhttpd"}},
		{"upper case query", url.Values{"q": {"NGINX"}},
			v1SearchAnswer{Query: "NGINX", NumResults: 1, NumPages: 1, Page: 1, PageSize: 25}, []string{"nginx"}},
		{"empty q lists everything", url.Values{},
			v1SearchAnswer{NumResults: 36, NumPages: 2, Page: 1, PageSize: 25}, pages(all, 25)},
		{"empty q, page 2", url.Values{"page": {"2"}},
			v1SearchAnswer{NumResults: 36, NumPages: 2, Page: 2, PageSize: 25}, all[25:]},
		{"n below 1 is 1", url.Values{"q": {"repo-"}, "n": {"0"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 30, Page: 1, PageSize: 1}, many[:1]},
		{"n above 100 is 100", url.Values{"q": {"repo-"}, "n": {"1000"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 1, Page: 1, PageSize: 100}, many},
		{"n not a number is 25", url.Values{"q": {"repo-"}, "n": {"x"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 2, Page: 1, PageSize: 25}, many[:25]},
		{"page 2 of 7", url.Values{"q": {"repo-"}, "n": {"7"}, "page": {"2"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 5, Page: 2, PageSize: 7}, many[7:14]},
		{"page past the end", url.Values{"q": {"repo-"}, "n": {"7"}, "page": {"9"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 5, Page: 9, PageSize: 7}, []string{}},
		{"page below 1 is 1", url.Values{"q": {"repo-"}, "n": {"7"}, "page": {"-3"}},
			v1SearchAnswer{Query: "repo-", NumResults: 30, NumPages: 5, Page: 1, PageSize: 7}, many[:7]},
		{"no match", url.Values{"q": {"nothing-here"}},
			v1SearchAnswer{Query: "nothing-here", NumResults: 0, NumPages: 0, Page: 1, PageSize: 25}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v1Search(t, s, tt.params, "")
			if !slices.Equal(got.names(), tt.names) {
				t.Errorf("names = %q, want %q", got.names(), tt.names)
			}
			got.Results = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("answer = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestV1SearchAccess is the access matrix: each caller finds exactly the
// repositories it may pull, in results and in num_results, by basic
// credentials, by a token with registry:catalog:search, anonymously and
// with the docker daemon's empty credentials (Basic Og==).
func TestV1SearchAccess(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			auSeed(t, s)
			callers := []struct {
				name, user, auth string
			}{
				{"anonymous", "", ""},
				{"empty basic (docker daemon)", "", "Basic Og=="},
				{"alice (admin)", "alice", ""},
				{"bob", "bob", ""},
				{"carol", "carol", ""},
			}
			for _, c := range callers {
				t.Run(c.name, func(t *testing.T) {
					auth := c.auth
					if c.user != "" {
						auth = v1Credentials(t, s, mode, c.user)
					}
					for _, q := range []string{"", "app", "a"} {
						var want []string
						for _, repo := range auCatalogs[c.user] {
							if q == "" || strings.Contains(repo, q) {
								want = append(want, repo)
							}
						}
						got := v1Search(t, s, url.Values{"q": {q}, "n": {"100"}}, auth)
						if gotNames := got.names(); !sameSet(gotNames, want) || got.NumResults != len(want) {
							t.Errorf("q=%q: results %q, num_results %d; want %q", q, gotNames, got.NumResults, want)
						}
					}
				})
			}
			t.Run("bad credentials", func(t *testing.T) {
				r := auDo(t, auReq{Method: http.MethodGet, URL: s.URL + "/v1/search?q=app", User: "bob", Pass: "wrong"})
				if r.Status != http.StatusUnauthorized {
					t.Errorf("wrong password: %d %s, want 401", r.Status, r.Body)
				}
			})
		})
	}
}

// v1Credentials is the Authorization header user searches with: basic
// credentials, or in token mode a bearer token for registry:catalog:search
// as the docker daemon fetches one.
func v1Credentials(t *testing.T, s *Server, mode, user string) string {
	t.Helper()
	if mode == "basic" {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, auUsers[user])
		return req.Header.Get("Authorization")
	}
	r, tok := auGetToken(t, s, user, auUsers[user], "registry:catalog:search")
	if r.Status != http.StatusOK {
		t.Fatalf("token for %s: %d %s", user, r.Status, r.Body)
	}
	_, access := auClaims(t, tok.Token)
	if len(access) != 1 || access[0].Type != "registry" || !slices.Contains(access[0].Actions, "search") {
		t.Fatalf("token for %s grants %+v, want registry:catalog:search", user, access)
	}
	return "Bearer " + tok.Token
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) || (len(a) == 0 && len(b) == 0)
}

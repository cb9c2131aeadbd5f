package e2e

// Repository information (wharf's /v2/<name>/_wharf/ API) and seed 004's
// v1 repository calls. Helper names start with "ri".

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// riInfo is the answer of GET /v2/<name>/_wharf/info.
type riInfo struct {
	Name              string `json:"name"`
	Description       string `json:"description"`
	ShortDescription  string `json:"short_description"`
	DescriptionSource string `json:"description_source"`
	Overview          string `json:"overview"`
	StarCount         int    `json:"star_count"`
	Starred           bool   `json:"starred"`
}

// riDescribed is a random image whose config carries the description label
// and whose manifest, if annotation is set, the description annotation.
func riDescribed(t *testing.T, label, annotation string) v1.Image {
	t.Helper()
	img, err := mutate.Config(whRandomImage(t, 200, 1), v1.Config{Labels: map[string]string{
		"org.opencontainers.image.description": label}})
	if err != nil {
		t.Fatalf("set label: %v", err)
	}
	if annotation != "" {
		img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.description": annotation}).(v1.Image)
	}
	return img
}

// riGetInfo reads repo's information as user ("" anonymous).
func riGetInfo(t *testing.T, s *Server, repo, user string) riInfo {
	t.Helper()
	r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/" + repo + "/_wharf/info", User: user, Pass: auUsers[user]})
	if r.Status != 200 {
		t.Fatalf("GET info of %s as %q: %s", repo, user, r)
	}
	var info riInfo
	if err := json.Unmarshal(r.Body, &info); err != nil {
		t.Fatalf("GET info of %s: %v in %s", repo, err, r)
	}
	return info
}

// TestRepoInfoAPI sets descriptions and overviews with and without the
// push right, and checks the description's fallbacks over real HTTP.
func TestRepoInfoAPI(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	for _, p := range []struct{ ref, label, annotation string }{
		{"team/app:v1", "label of team/app", ""},
		{"bob/app:v2", "label of bob/app", "annotation of bob/app\nmore"},
	} {
		if err := remote.Write(whRef(t, s, p.ref), riDescribed(t, p.label, p.annotation), auRemote(t, auBasic("alice"), nil)...); err != nil {
			t.Fatalf("push %s: %v", p.ref, err)
		}
	}
	if got := riGetInfo(t, s, "team/app", "bob"); got.Description != "label of team/app" || got.DescriptionSource != "label" {
		t.Errorf("team/app description = %+v, want its config label", got)
	}
	if got := riGetInfo(t, s, "bob/app", "bob"); got.Description != "annotation of bob/app\nmore" ||
		got.ShortDescription != "annotation of bob/app" || got.DescriptionSource != "annotation" {
		t.Errorf("bob/app description = %+v, want its annotation", got)
	}
	if got := riGetInfo(t, s, "library/pub", ""); got.Description != "" || got.StarCount != 0 {
		t.Errorf("library/pub anonymously = %+v, want no description, no stars", got)
	}

	body := []byte(`{"description":"set by carol","overview":"# team app\n<script>x</script>"}`)
	puts := []struct {
		user, repo string
		status     int
	}{
		{"carol", "team/app", 200}, // devs may push team/*
		{"bob", "team/app", 403},   // bob may only pull
		{"", "team/app", 401},
		{"bob", "library/pub", 403},
		{"alice", "bob/none", 404}, // never pushed
	}
	for _, p := range puts {
		r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/" + p.repo + "/_wharf/info", User: p.user, Pass: auUsers[p.user], Body: body})
		if r.Status != p.status {
			t.Errorf("PUT info of %s as %q: %s, want %d", p.repo, p.user, r, p.status)
		}
	}
	got := riGetInfo(t, s, "team/app", "bob")
	if got.Description != "set by carol" || got.DescriptionSource != "explicit" || got.Overview != "# team app\n<script>x</script>" {
		t.Errorf("team/app after carol's PUT = %+v, want her description and raw overview", got)
	}
	// A field left out is kept.
	r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/team/app/_wharf/info", User: "alice", Pass: auUsers["alice"], Body: []byte(`{"description":"by alice"}`)})
	if r.Status != 200 {
		t.Fatalf("PUT description only: %s", r)
	}
	if got := riGetInfo(t, s, "team/app", "carol"); got.Description != "by alice" || got.Overview != "# team app\n<script>x</script>" {
		t.Errorf("after a description-only PUT = %+v, want the overview kept", got)
	}
	big := `{"overview":"` + strings.Repeat("x", 65<<10) + `"}`
	if r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/team/app/_wharf/info", User: "alice", Pass: auUsers["alice"], Body: []byte(big)}); r.Status != 413 {
		t.Errorf("PUT of a 65 KiB overview: %s, want 413", r)
	}
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/secret/app/_wharf/info", User: "bob", Pass: auUsers["bob"]}); r.Status != 403 {
		t.Errorf("GET info of secret/app as bob: %s, want 403", r)
	}
}

// TestRepoStars stars and unstars: one star per user, idempotent,
// anonymous callers and users who may not pull refused.
func TestRepoStars(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	star := func(method, user, repo string) whResp {
		return auDo(t, auReq{Method: method, URL: s.URL + "/v2/" + repo + "/_wharf/star", User: user, Pass: auUsers[user]})
	}
	steps := []struct {
		method, user, repo string
		status             int
		count              int // star_count of library/pub after the step
	}{
		{"PUT", "bob", "library/pub", 200, 1},
		{"PUT", "bob", "library/pub", 200, 1}, // idempotent
		{"PUT", "carol", "library/pub", 200, 2},
		{"PUT", "alice", "library/pub", 200, 3},
		{"PUT", "", "library/pub", 401, 3},
		{"DELETE", "", "library/pub", 401, 3},
		{"PUT", "carol", "bob/app", 403, 3}, // carol may not pull bob/app
		{"DELETE", "alice", "library/pub", 200, 2},
		{"DELETE", "alice", "library/pub", 200, 2}, // idempotent
		{"GET", "bob", "library/pub", 405, 2},
	}
	for i, st := range steps {
		r := star(st.method, st.user, st.repo)
		if r.Status != st.status {
			t.Fatalf("step %d: %s star of %s as %q: %s, want %d", i, st.method, st.repo, st.user, r, st.status)
		}
		if got := riGetInfo(t, s, "library/pub", "").StarCount; got != st.count {
			t.Fatalf("step %d: star_count = %d, want %d", i, got, st.count)
		}
	}
	if !riGetInfo(t, s, "library/pub", "bob").Starred || riGetInfo(t, s, "library/pub", "alice").Starred {
		t.Errorf("starred flags: bob should have starred library/pub, alice not")
	}
	if got := riGetInfo(t, s, "bob/app", "bob").StarCount; got != 0 {
		t.Errorf("bob/app star_count = %d, want 0", got)
	}
}

// riCurl runs the real curl, as seed 004 does, and returns status and body.
func riCurl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
	defer cancel()
	args = append([]string{"-s", "-w", "\n%{http_code}"}, args...)
	out, err := exec.CommandContext(c, "curl", args...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	i := strings.LastIndex(string(out), "\n")
	if i < 0 {
		t.Fatalf("curl %v: no status in %q", args, out)
	}
	body, code := string(out[:i]), string(out[i+1:])
	var status int
	if err := json.Unmarshal([]byte(code), &status); err != nil {
		t.Fatalf("curl %v: status %q", args, code)
	}
	return status, body
}

// riConfigHex is the image id docker shows for img: its config digest's hex.
func riConfigHex(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.Hex
}

// TestV1SeedCurls runs seed 004's v1 repository calls with curl: the tags
// of a repository as tag → image id (one-segment names in library/), one
// tag's id, deleting a tag and a whole repository.
func TestV1SeedCurls(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	s := StartServer(t, ServerOptions{})
	centos, latest := whRandomImage(t, 300, 1), whRandomImage(t, 300, 1)
	whPush(t, s, "library/centos6.6:6.6", centos)
	whPush(t, s, "library/centos6.6:latest", latest)
	help := whRandomImage(t, 300, 1)
	whPush(t, s, "reynholm/help-system-server:latest", help)
	whPush(t, s, "reynholm/help-system-server:v1", help)

	// An index stands for its linux/amd64 child.
	arm, amd := whRandomImage(t, 200, 1), whRandomImage(t, 200, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	if err := remote.WriteIndex(whRef(t, s, "library/multi:latest"), idx, whRemote(t)...); err != nil {
		t.Fatalf("push index: %v", err)
	}

	wantTags := map[string]string{"6.6": riConfigHex(t, centos), "latest": riConfigHex(t, latest)}
	for _, path := range []string{"/v1/repositories/library/centos6.6/tags", "/v1/repositories/centos6.6/tags"} {
		status, body := riCurl(t, s.URL+path)
		var got map[string]string
		if status != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got) != 2 ||
			got["6.6"] != wantTags["6.6"] || got["latest"] != wantTags["latest"] {
			t.Errorf("curl %s: %d %s, want %v", path, status, body, wantTags)
		}
	}
	if status, body := riCurl(t, s.URL+"/v1/repositories/multi/tags/latest"); status != 200 || body != `"`+riConfigHex(t, amd)+`"` {
		t.Errorf("id of an index: %d %s, want the amd64 child's config %s", status, body, riConfigHex(t, amd))
	}
	if status, body := riCurl(t, s.URL+"/v1/repositories/library/centos6.6/tags/latest"); status != 200 || body != `"`+wantTags["latest"]+`"` {
		t.Errorf("id of latest: %d %s", status, body)
	}
	for _, path := range []string{"/v1/repositories/library/none/tags", "/v1/repositories/library/centos6.6/tags/none", "/v1/repositories/none/tags/latest"} {
		if status, body := riCurl(t, s.URL+path); status != 404 || !strings.Contains(body, `"error"`) {
			t.Errorf("curl %s: %d %s, want 404 with an error", path, status, body)
		}
	}

	// curl .../tags/(tag) -X DELETE
	status, body := riCurl(t, s.URL+"/v1/repositories/reynholm/help-system-server/tags/latest", "-X", "DELETE")
	if status != 200 || body != "true" {
		t.Fatalf("DELETE tag: %d %s, want 200 true", status, body)
	}
	if r := whDo(t, "GET", s.URL+"/v2/reynholm/help-system-server/tags/list", nil, nil); !strings.Contains(string(r.Body), `"tags":["v1"]`) {
		t.Errorf("tags after deleting latest: %s, want only v1", r)
	}
	// curl .../(namespace)/(repository)/ -X DELETE
	status, body = riCurl(t, s.URL+"/v1/repositories/reynholm/help-system-server/", "-X", "DELETE")
	if status != 200 || body != "true" {
		t.Fatalf("DELETE repository: %d %s, want 200 true", status, body)
	}
	d, _ := help.Digest()
	if r := whDo(t, "GET", s.URL+"/v2/reynholm/help-system-server/manifests/"+d.String(), nil, nil); r.Status != 404 {
		t.Errorf("manifest after deleting the repository: %s, want 404", r)
	}
	if status, body := riCurl(t, s.URL+"/v1/repositories/reynholm/help-system-server/tags"); status != 200 || body != "{}" {
		t.Errorf("tags after deleting the repository: %d %s, want {}", status, body)
	}
	status, body = riCurl(t, s.URL+"/v1/repositories/library/multi/", "-X", "DELETE")
	if status != 200 {
		t.Fatalf("DELETE repository with an index: %d %s", status, body)
	}
	for _, img := range []v1.Image{arm, amd} {
		d, _ := img.Digest()
		if r := whDo(t, "GET", s.URL+"/v2/library/multi/manifests/"+d.String(), nil, nil); r.Status != 404 {
			t.Errorf("index child after deleting the repository: %s, want 404", r)
		}
	}
}

// TestV1DeleteRights checks the v1 DELETEs need the delete right and
// storage.delete.enabled.
func TestV1DeleteRights(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	steps := []struct {
		user, path string
		status     int
	}{
		{"", "/v1/repositories/library/pub/tags/latest", 401},
		{"bob", "/v1/repositories/library/pub/tags/latest", 403},
		{"carol", "/v1/repositories/team/app/", 403}, // pull and push, no delete
		{"bob", "/v1/repositories/bob/app/tags/latest", 200},
		{"alice", "/v1/repositories/pub/", 200}, // library/pub
	}
	for _, st := range steps {
		r := auDo(t, auReq{Method: "DELETE", URL: s.URL + st.path, User: st.user, Pass: auUsers[st.user]})
		if r.Status != st.status {
			t.Errorf("DELETE %s as %q: %s, want %d", st.path, st.user, r, st.status)
		}
	}
	reads := []struct {
		user, path string
		status     int
	}{
		{"", "/v1/repositories/pub/tags", 200}, // public, now empty
		{"", "/v1/repositories/team/app/tags", 401},
		{"bob", "/v1/repositories/team/app/tags", 200},
		{"bob", "/v1/repositories/secret/app/tags", 403},
	}
	for _, st := range reads {
		r := auDo(t, auReq{Method: "GET", URL: s.URL + st.path, User: st.user, Pass: auUsers[st.user]})
		if r.Status != st.status {
			t.Errorf("GET %s as %q: %s, want %d", st.path, st.user, r, st.status)
		}
	}

	off := StartServer(t, ServerOptions{DeleteDisabled: true})
	whPush(t, off, "library/x:latest", whRandomImage(t, 100, 1))
	for _, path := range []string{"/v1/repositories/x/tags/latest", "/v1/repositories/x/"} {
		if r := whDo(t, "DELETE", off.URL+path, nil, nil); r.Status != 405 || !strings.Contains(string(r.Body), "storage.delete.enabled") {
			t.Errorf("DELETE %s with deletes disabled: %s, want 405", path, r)
		}
	}
	if r := whDo(t, "GET", off.URL+"/v1/repositories/x/tags/latest", nil, nil); r.Status != 200 {
		t.Errorf("tag still there after refused deletes: %s", r)
	}
}

// TestRepoStarsToken stars with the built-in token server's tokens: the
// user named in a token with pull stars, an anonymous token may not.
func TestRepoStarsToken(t *testing.T) {
	s, _ := auTokenServer(t, auPolicy)
	auSeed(t, s)
	const scope = "repository:library/pub:pull"
	_, bob := auGetToken(t, s, "bob", auUsers["bob"], scope)
	_, anon := auGetToken(t, s, "", "", scope)
	steps := []struct {
		who, token string
		status     int
		count      int
	}{
		{"bob", bob.Token, 200, 1},
		{"bob again", bob.Token, 200, 1},
		{"anonymous token", anon.Token, 401, 1},
	}
	for _, st := range steps {
		r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/library/pub/_wharf/star", Token: st.token})
		if r.Status != st.status {
			t.Fatalf("star as %s: %s, want %d", st.who, r, st.status)
		}
		info := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/library/pub/_wharf/info", Token: bob.Token})
		var got riInfo
		if info.Status != 200 || json.Unmarshal(info.Body, &got) != nil || got.StarCount != st.count || !got.Starred {
			t.Fatalf("after star as %s: %s, want star_count %d, starred by bob", st.who, info, st.count)
		}
	}
}

// TestV1SearchDescriptionsAndStars: search results carry the description's
// first line (explicit, else the content's annotation or label) and the
// star count, as docker search and podman search show them.
func TestV1SearchDescriptionsAndStars(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	if err := remote.Write(whRef(t, s, "team/described:v1"), riDescribed(t, "the label", "Annotated httpd\nsecond line"),
		auRemote(t, auBasic("alice"), nil)...); err != nil {
		t.Fatalf("push: %v", err)
	}
	r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/library/pub/_wharf/info", User: "alice", Pass: auUsers["alice"],
		Body: []byte(`{"description":"Public base image\nwith details"}`)})
	if r.Status != 200 {
		t.Fatalf("PUT info: %s", r)
	}
	for _, user := range []string{"bob", "carol"} {
		if r := auDo(t, auReq{Method: "PUT", URL: s.URL + "/v2/library/pub/_wharf/star", User: user, Pass: auUsers[user]}); r.Status != 200 {
			t.Fatalf("star as %s: %s", user, r)
		}
	}
	tests := []struct {
		query, repo, description string
		stars                    int
	}{
		{"pub", "library/pub", "Public base image", 2},
		{"described", "team/described", "Annotated httpd", 0},
		// Found by what the descriptions say, not by name.
		{"base image", "library/pub", "Public base image", 2},
		{"annotated", "team/described", "Annotated httpd", 0},
	}
	for _, tt := range tests {
		a := v1Search(t, s, url.Values{"q": {tt.query}}, v1Credentials(t, s, "basic", "alice"))
		found := false
		for _, res := range a.Results {
			if res.Name == tt.repo {
				found = true
				if res.Description != tt.description || res.StarCount != tt.stars {
					t.Errorf("search %q: %s has description %q, %d stars; want %q, %d",
						tt.query, tt.repo, res.Description, res.StarCount, tt.description, tt.stars)
				}
			}
		}
		if !found {
			t.Errorf("search %q: %v lacks %s", tt.query, a.names(), tt.repo)
		}
	}
	// A description match of a repository the caller may not pull stays
	// hidden, in results and in the count.
	if a := v1Search(t, s, url.Values{"q": {"annotated"}}, ""); a.NumResults != 0 || len(a.Results) != 0 {
		t.Errorf("anonymous search by a private repository's description: %d results %v", a.NumResults, a.names())
	}
}

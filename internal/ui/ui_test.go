package ui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/auth"
)

// TestPagesByVisitor: every page, for each kind of visitor, shows what the
// access policy lets that visitor pull and nothing else, with the same
// answer for a hidden repository as for an absent one.
func TestPagesByVisitor(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	alpineLatest := e.digest["library/alpine:latest"].String()
	tests := []struct {
		name    string
		user    string // "" anonymous
		path    string
		status  int
		want    []string
		notWant []string
	}{
		{"home anonymous", "", "/", 200, []string{"library/alpine", "evil/xss", "Alpine Linux, small"}, []string{"team/secret", "Top secret"}},
		{"home carol", "carol", "/", 200, []string{"library/alpine"}, []string{"team/secret"}},
		{"home bob", "bob", "/", 200, []string{"library/alpine", "team/secret", "Top secret thing"}, nil},
		{"home alice", "alice", "/", 200, []string{"team/secret"}, nil},
		{"repo anonymous", "", "/r/library/alpine", 200,
			[]string{"Alpine Linux, small", "latest", "3.20", "multi", "linux/amd64, linux/arm64", "multi-platform",
				"docker pull 127.0.0.1:", "podman pull", "/library/alpine@sha256:"},
			[]string{"☆ Star", "Delete"}},
		{"private repo anonymous", "", "/r/team/secret", 404, []string{"There is no such page"}, []string{"Top secret"}},
		{"private repo carol", "carol", "/r/team/secret", 404, nil, []string{"Top secret"}},
		{"private repo bob", "bob", "/r/team/secret", 200, []string{"Top secret thing", "☆ Star", "Delete"}, nil},
		{"absent repo", "bob", "/r/team/nothing", 404, []string{"There is no such page"}, nil},
		{"invalid name", "", "/r/UPPER/case", 404, nil, nil},
		{"private manifest anonymous", "", "/r/team/secret/-/manifest/v1", 404, nil, []string{"sha256"}},
		{"private manifest bob", "bob", "/r/team/secret/-/manifest/v1", 200, []string{"Layers", "ARCH=amd64", "/bin/sh -c", "echo hello", "ADD rootfs-amd64 /"}, nil},
		{"index manifest", "", "/r/library/alpine/-/manifest/multi", 200, []string{"Platforms", "linux/amd64", "linux/arm64"}, []string{"Layers"}},
		{"image manifest with referrer", "", "/r/library/alpine/-/manifest/latest", 200,
			[]string{"Signature", "application/vnd.dev.cosign.artifact.sig.v1", "Tags", "3.20", alpineLatest}, []string{"No signatures"}},
		{"manifest by digest", "", "/r/library/alpine/-/manifest/" + alpineLatest, 200, []string{">latest</a>", ">3.20</a>"}, nil},
		{"unknown tag", "", "/r/library/alpine/-/manifest/nope", 404, nil, nil},
		{"bad reference", "", "/r/library/alpine/-/manifest/..%2f..", 404, nil, nil},
		{"search anonymous", "", "/search?q=e", 200, []string{"library/alpine", "evil/xss"}, []string{"team/secret"}},
		{"search hidden", "", "/search?q=secret", 200, []string{"0 repositories found"}, []string{"team/secret"}},
		{"search bob", "bob", "/search?q=secret", 200, []string{"1 repository found", "team/secret"}, nil},
		{"delete page anonymous", "", "/r/library/alpine/-/delete?ref=latest", 403, nil, []string{"Delete tag"}},
		{"delete page carol", "carol", "/r/library/alpine/-/delete?ref=latest", 403, nil, nil},
		{"unknown path", "", "/nope", 404, nil, nil},
		{"login page", "", "/login", 200, []string{`name="username"`, `autocomplete="current-password"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser(t)
			if tt.user != "" {
				b.login(tt.user)
			}
			status, body := b.get(tt.path)
			if status != tt.status {
				t.Fatalf("GET %s as %q: %d, want %d\n%s", tt.path, tt.user, status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s as %q: no %q in\n%s", tt.path, tt.user, w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("GET %s as %q: %q must not show", tt.path, tt.user, w)
				}
			}
		})
	}
}

// TestHostileContentEscaped: text anyone with push rights controls
// (description, overview, labels, annotations) and what a visitor types
// (the search query, paths) never reaches the page as markup.
func TestHostileContentEscaped(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	paths := []string{
		"/", "/r/evil/xss", "/r/evil/xss/-/manifest/latest",
		"/search?q=" + url.QueryEscape(`"><script>alert(1)</script>`),
		"/search?q=xss",
		"/login?next=" + url.QueryEscape(`"><script>alert(1)</script>`),
		"/r/evil/xss/-/manifest/" + url.PathEscape(`<script>`),
	}
	forbidden := []string{"<script>alert", "<img src=x", `href="javascript:`, `"><script`}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			_, body := e.browser(t).get(p)
			for _, f := range forbidden {
				if strings.Contains(body, f) {
					i := strings.Index(body, f)
					t.Errorf("%s carries %q unescaped: …%s…", p, f, body[max(0, i-80):min(len(body), i+80)])
				}
			}
		})
	}
	_, body := e.browser(t).get("/r/evil/xss")
	for _, w := range []string{"<h1>Hello</h1>", "<strong>bold</strong>", "Evil &lt;script&gt;"} {
		if !strings.Contains(body, w) {
			t.Errorf("repository page lacks %q (Markdown rendered, hostile text escaped)", w)
		}
	}
	_, body = e.browser(t).get("/r/evil/xss/-/manifest/latest")
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;") {
		t.Errorf("manifest page does not show the hostile label escaped")
	}
}

// TestCSRF: a state-changing form is refused without its token, with
// another visitor's token, and from another site.
func TestCSRF(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	bob := e.browser(t)
	bob.login("bob")
	carol := e.browser(t)
	carol.login("carol")
	good := bob.csrf("/r/team/secret")
	tests := []struct {
		name   string
		token  string
		header []string
		status int
	}{
		{"no token", "", nil, http.StatusForbidden},
		{"other visitor's token", carol.csrf("/"), nil, http.StatusForbidden},
		{"cross-site", good, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"forged", strings.Repeat("A", len(good)), nil, http.StatusForbidden},
		{"own token", good, nil, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, _ := bob.post("/r/team/secret/-/star", url.Values{"csrf": {tt.token}, "on": {"1"}}, tt.header...)
			if status != tt.status {
				t.Fatalf("star: %d, want %d", status, tt.status)
			}
			starred, err := e.reg.Starred(t.Context(), "team/secret", "bob")
			if err != nil {
				t.Fatal(err)
			}
			if starred != (tt.status == http.StatusSeeOther) {
				t.Fatalf("starred = %v after a %d", starred, status)
			}
		})
	}
	// Deletion and logout are guarded alike.
	status, _, _ := bob.post("/r/team/secret/-/delete", url.Values{"ref": {"v1"}})
	if status != http.StatusForbidden {
		t.Errorf("delete without token: %d", status)
	}
	if _, err := e.reg.GetManifest(t.Context(), "team/secret", "v1"); err != nil {
		t.Errorf("the tag went after a refused delete: %v", err)
	}
}

// TestStar: a logged-in visitor stars and unstars; the count shows it.
func TestStar(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	b := e.browser(t)
	b.login("carol")
	for _, step := range []struct {
		on   string
		want string
	}{{"1", "1 star"}, {"1", "1 star"}, {"0", "0 stars"}} {
		status, loc, _ := b.post("/r/library/alpine/-/star", url.Values{"csrf": {b.csrf("/r/library/alpine")}, "on": {step.on}})
		if status != http.StatusSeeOther || loc != "/r/library/alpine" {
			t.Fatalf("star on=%s: %d %q", step.on, status, loc)
		}
		_, body := b.get("/r/library/alpine")
		if !strings.Contains(body, step.want) {
			t.Errorf("after on=%s: no %q", step.on, step.want)
		}
	}
	// Anonymous visitors have no star button and are sent to log in.
	anon := e.browser(t)
	status, loc, _ := anon.post("/r/library/alpine/-/star", url.Values{"csrf": {anon.csrf("/login")}, "on": {"1"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Errorf("anonymous star: %d %q", status, loc)
	}
}

// TestDelete: the confirmation names every other tag of the digest; a
// tag delete keeps the image; a digest delete takes every tag.
func TestDelete(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	b := e.browser(t)
	b.login("alice")
	status, body := b.get("/r/library/alpine/-/delete?ref=latest")
	if status != 200 {
		t.Fatalf("confirmation: %d", status)
	}
	for _, w := range []string{"Delete the tag latest", "under its other tags: <strong class=\"tag-list\">3.20</strong>",
		"also deletes every tag that points at it: <strong class=\"tag-list\">3.20, latest</strong>", "1 referrer"} {
		if !strings.Contains(body, w) {
			t.Errorf("confirmation lacks %q:\n%s", w, body)
		}
	}
	token := b.csrf("/r/library/alpine/-/delete?ref=latest")
	status, loc, _ := b.post("/r/library/alpine/-/delete", url.Values{"csrf": {token}, "ref": {"latest"}})
	if status != http.StatusSeeOther || loc != "/r/library/alpine?deleted=latest" {
		t.Fatalf("delete tag: %d %q", status, loc)
	}
	if _, err := e.reg.GetManifest(t.Context(), "library/alpine", "latest"); err == nil {
		t.Errorf("tag latest still there")
	}
	if _, err := e.reg.GetManifest(t.Context(), "library/alpine", "3.20"); err != nil {
		t.Errorf("tag 3.20 went with latest: %v", err)
	}
	d := e.digest["library/alpine:3.20"].String()
	status, _, _ = b.post("/r/library/alpine/-/delete", url.Values{"csrf": {token}, "ref": {d}})
	if status != http.StatusSeeOther {
		t.Fatalf("delete digest: %d", status)
	}
	if _, err := e.reg.GetManifest(t.Context(), "library/alpine", "3.20"); err == nil {
		t.Errorf("tag 3.20 survived its manifest's deletion")
	}
	// bob may delete in team/* only.
	bob := e.browser(t)
	bob.login("bob")
	status, _, _ = bob.post("/r/library/alpine/-/delete", url.Values{"csrf": {bob.csrf("/")}, "ref": {"multi"}})
	if status != http.StatusForbidden {
		t.Errorf("bob deleting in library: %d", status)
	}
}

// TestDeleteDisabled: without storage.delete.enabled nobody sees the
// controls, and a POST is refused with the reason.
func TestDeleteDisabled(t *testing.T) {
	e := newUIEnv(t, uiOptions{deleteDisabled: true})
	b := e.browser(t)
	b.login("alice")
	if _, body := b.get("/r/library/alpine"); strings.Contains(body, "Delete") {
		t.Errorf("delete controls shown with deletion disabled")
	}
	status, _, body := b.post("/r/library/alpine/-/delete", url.Values{"csrf": {b.csrf("/")}, "ref": {"latest"}})
	if status != http.StatusConflict || !strings.Contains(body, "storage.delete.enabled") {
		t.Errorf("delete with deletion disabled: %d %s", status, body)
	}
}

// TestLogin: wrong passwords are refused and throttled like the API's;
// next never leaves the site; logout ends the session.
func TestLogin(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	b := e.browser(t)
	token := b.csrf("/login")
	status, _, body := b.post("/login", url.Values{"csrf": {token}, "username": {"bob"}, "password": {"wrong"}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
		t.Fatalf("wrong password: %d", status)
	}
	for i := 0; i < 20 && status != http.StatusTooManyRequests; i++ {
		status, _, _ = b.post("/login", url.Values{"csrf": {token}, "username": {"carol"}, "password": {"wrong"}})
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("20 wrong passwords never throttled: %d", status)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		c := e.browser(t)
		status, loc, _ := c.post("/login", url.Values{"csrf": {c.csrf("/login")}, "username": {"alice"}, "password": {"pw-alice"}, "next": {next}})
		if status != http.StatusSeeOther || loc != "/" {
			t.Errorf("login with next=%q: %d %q", next, status, loc)
		}
	}
	c := e.browser(t)
	status, loc, _ := c.post("/login", url.Values{"csrf": {c.csrf("/login")}, "username": {"bob"}, "password": {"pw-bob"}, "next": {"/r/team/secret"}})
	if status != http.StatusSeeOther || loc != "/r/team/secret" {
		t.Fatalf("login: %d %q", status, loc)
	}
	if status, _ := c.get("/r/team/secret"); status != 200 {
		t.Fatalf("after login: %d", status)
	}
	// A copy of the cookie, taken before the logout, as someone who stole
	// it would keep it.
	stolen := e.browser(t)
	base, _ := url.Parse(e.srv.URL)
	stolen.client.Jar.SetCookies(base, c.client.Jar.Cookies(base))
	if status, _ := stolen.get("/r/team/secret"); status != 200 {
		t.Fatalf("with a copy of the cookie before logout: %d", status)
	}
	if status, _, _ := c.post("/logout", url.Values{"csrf": {c.csrf("/")}}); status != http.StatusSeeOther {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := c.get("/r/team/secret"); status != 404 {
		t.Fatalf("after logout: %d", status)
	}
	if status, _ := stolen.get("/r/team/secret"); status != 404 {
		t.Fatalf("a copy of the cookie still works after logout: %d", status)
	}
}

// TestSessionCookie: the cookie is HttpOnly and SameSite=Strict; a cookie
// whose signature does not match is ignored.
func TestSessionCookie(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	b := e.browser(t)
	token := b.csrf("/login")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login",
		strings.NewReader(url.Values{"csrf": {token}, "username": {"bob"}, "password": {"pw-bob"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wharf_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", session)
	}
	forged := e.browser(t)
	u, _ := url.Parse(e.srv.URL)
	body, _, _ := strings.Cut(session.Value, ".")
	forged.client.Jar.SetCookies(u, []*http.Cookie{{Name: "wharf_session", Value: body + ".AAAA", Path: "/"}})
	if status, _ := forged.get("/r/team/secret"); status != 404 {
		t.Errorf("forged session: %d", status)
	}
}

// TestSecurityHeaders: every answer carries the CSP and framing refusal.
func TestSecurityHeaders(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	for _, p := range []string{"/", "/r/library/alpine", "/nope", "/static/style.css", "/login"} {
		resp, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
	}
}

// TestHomePagination: pages of 100 by keyset, every repository once.
func TestHomePagination(t *testing.T) {
	e := newUIEnv(t, uiOptions{noAuth: true})
	for i := range 230 {
		e.pushImage(t, fmt.Sprintf("bulk/r%03d", i), []string{"v"}, "amd64", nil, nil)
	}
	b := e.browser(t)
	seen := map[string]int{}
	path := "/"
	for pages := 0; path != "" && pages < 10; pages++ {
		status, body := b.get(path)
		if status != 200 {
			t.Fatalf("%s: %d", path, status)
		}
		for _, m := range repoLinkRe.FindAllStringSubmatch(body, -1) {
			seen[m[1]]++
		}
		path = ""
		if m := nextRe.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 233 {
		t.Errorf("saw %d repositories, want 233", len(seen))
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", name, n)
		}
	}
}

// TestNoAuth: without authentication everyone sees everything and there
// is no login.
func TestNoAuth(t *testing.T) {
	e := newUIEnv(t, uiOptions{noAuth: true})
	_, body := e.browser(t).get("/")
	if !strings.Contains(body, "team/secret") || strings.Contains(body, ">Log in<") {
		t.Errorf("home without auth:\n%s", body)
	}
}

// TestMethods: pages refuse methods they do not take.
func TestMethods(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	tests := []struct{ method, path string }{
		{http.MethodPost, "/"}, {http.MethodDelete, "/r/library/alpine"}, {http.MethodGet, "/logout"},
		{http.MethodPut, "/login"}, {http.MethodGet, "/r/library/alpine/-/star"}, {http.MethodPost, "/static/app.js"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d", tt.method, tt.path, resp.StatusCode)
		}
	}
}

// TestAuthModes: logins work in both password modes and are off with an
// external token server, where visitors see the public repositories.
func TestAuthModes(t *testing.T) {
	tests := []struct {
		name   string
		mode   auth.Mode
		logins bool
	}{
		{"basic", auth.ModeBasic, true},
		{"token server", auth.ModeTokenServer, true},
		{"external tokens", auth.ModeExternalToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newUIEnv(t, uiOptions{mode: tt.mode})
			b := e.browser(t)
			_, home := b.get("/")
			if strings.Contains(home, "team/secret") || !strings.Contains(home, "library/alpine") {
				t.Fatalf("anonymous home shows the wrong repositories")
			}
			if strings.Contains(home, ">Log in<") != tt.logins {
				t.Errorf("login link shown: %v, want %v", !tt.logins, tt.logins)
			}
			token := ""
			if tt.logins {
				token = b.csrf("/login")
			}
			status, _, _ := b.post("/login", url.Values{"csrf": {token}, "username": {"bob"}, "password": {"pw-bob"}})
			if tt.logins != (status == http.StatusSeeOther) {
				t.Fatalf("login: %d", status)
			}
			if status, _ := b.get("/r/team/secret"); (status == 200) != tt.logins {
				t.Errorf("private repository after login: %d", status)
			}
		})
	}
}

// TestBasePath: behind a proxy serving the UI under a prefix (and
// stripping it), every link, form and cookie carries the prefix.
func TestBasePath(t *testing.T) {
	e := newUIEnv(t, uiOptions{basePath: "/registry"})
	b := e.browser(t)
	_, body := b.get("/r/library/alpine")
	for _, w := range []string{`href="/registry/static/style.css"`, `src="/registry/static/app.js"`, `action="/registry/search"`,
		`href="/registry/r/library/alpine/-/manifest/latest"`, `href="/registry/"`} {
		if !strings.Contains(body, w) {
			t.Errorf("no %s", w)
		}
	}
	if !strings.Contains(body, `href="/registry/login?next=%2fregistry%2fr%2flibrary%2falpine"`) {
		t.Errorf("the login link does not return here")
	}
	if m := regexp.MustCompile(`(href|action|src)="/(r|static|search|login)[/"?]`).FindString(body); m != "" {
		t.Errorf("a link without the prefix: %s", m)
	}
	status, loc, _ := b.post("/login", url.Values{"csrf": {b.csrf("/login")}, "username": {"bob"}, "password": {"pw-bob"}, "next": {"/registry/r/team/secret"}})
	if status != http.StatusSeeOther || loc != "/registry/r/team/secret" {
		t.Errorf("login under the prefix: %d %q", status, loc)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/registry/login", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Path != "/registry/" {
			t.Errorf("cookie %s for path %q", c.Name, c.Path)
		}
	}
}

// TestSharedManifest: the manifest page names the other repositories
// holding the same manifest, only those the visitor may see, and the
// size stored once.
func TestSharedManifest(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	e.copyImage(t, "library/alpine", "latest", "library/copy")
	e.copyImage(t, "library/alpine", "latest", "team/mirror")
	tests := []struct {
		user          string
		want, notWant []string
	}{
		{"", []string{`href="/r/library/copy/-/manifest/sha256:`}, []string{"team/mirror"}},
		{"carol", []string{"library/copy"}, []string{"team/mirror"}},
		{"bob", []string{"library/copy", "team/mirror"}, nil},
	}
	for _, tt := range tests {
		b := e.browser(t)
		if tt.user != "" {
			b.login(tt.user)
		}
		_, body := b.get("/r/library/alpine/-/manifest/latest")
		for _, w := range append(tt.want, "Stored size", "in 2 blobs") {
			if !strings.Contains(body, w) {
				t.Errorf("as %q: no %q", tt.user, w)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(body, w) {
				t.Errorf("as %q: %q shown", tt.user, w)
			}
		}
	}
	// An index counts the blobs of all its platforms once.
	_, body := e.browser(t).get("/r/library/alpine/-/manifest/multi")
	if !strings.Contains(body, "in 4 blobs, each counted once across the platforms") {
		t.Errorf("index stored size missing:\n%s", body)
	}
}

// TestSearchPages: search pages through the ranked matches the visitor
// may see, 30 at a time.
func TestSearchPages(t *testing.T) {
	e := newUIEnv(t, uiOptions{noAuth: true})
	for i := range 65 {
		e.pushImage(t, fmt.Sprintf("many/p%03d", i), []string{"v"}, "amd64", nil, nil)
	}
	b := e.browser(t)
	seen := map[string]bool{}
	for page, want := range map[int]int{1: 30, 2: 30, 3: 5} {
		_, body := b.get(fmt.Sprintf("/search?q=many/&page=%d", page))
		if !strings.Contains(body, fmt.Sprintf("Page %d of 3", page)) || !strings.Contains(body, "65 repositories found") {
			t.Errorf("page %d: no page count", page)
		}
		links := repoLinkRe.FindAllStringSubmatch(body, -1)
		if len(links) != want {
			t.Errorf("page %d: %d results, want %d", page, len(links), want)
		}
		for _, l := range links {
			seen[l[1]] = true
		}
	}
	if len(seen) != 65 {
		t.Errorf("%d distinct results over 3 pages, want 65", len(seen))
	}
	if _, body := b.get("/search?q=many/&page=-4"); !strings.Contains(body, "Page 1 of 3") {
		t.Errorf("a bad page number does not fall back to page 1")
	}
}

// TestSessionEndsWithCredentials: a session ends when its user's password
// changes or the user is removed from htpasswd.
func TestSessionEndsWithCredentials(t *testing.T) {
	e := newUIEnv(t, uiOptions{})
	bob, carol := e.browser(t), e.browser(t)
	bob.login("bob")
	carol.login("carol")
	if status, _ := bob.get("/r/team/secret"); status != 200 {
		t.Fatalf("bob before: %d", status)
	}
	// bob gets a new password, carol goes; alice stays as she was.
	lines := []string{htpasswdLine(t, "alice", "pw-alice"), htpasswdLine(t, "bob", "new-password")}
	writeFileAtomic(t, e.htpasswd, strings.Join(lines, "\n")+"\n")
	for i := 0; i < 50; i++ { // the file is looked at once a second
		if status, _ := bob.get("/r/team/secret"); status == 404 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := bob.get("/r/team/secret"); status != 404 {
		t.Errorf("bob's session survived his password change: %d", status)
	}
	if _, body := carol.get("/"); strings.Contains(body, "Logged in as") {
		t.Errorf("carol's session survived her removal")
	}
	alice := e.browser(t)
	alice.login("alice")
	if status, _ := alice.get("/r/team/secret"); status != 200 {
		t.Errorf("alice after the change: %d", status)
	}
}

// TestSharedManifestMany: a manifest in very many repositories names the
// first few and says there are more.
func TestSharedManifestMany(t *testing.T) {
	e := newUIEnv(t, uiOptions{noAuth: true})
	for i := range 25 {
		e.copyImage(t, "library/alpine", "latest", fmt.Sprintf("copies/c%02d", i))
	}
	_, body := e.browser(t).get("/r/library/alpine/-/manifest/latest")
	if n := strings.Count(body, `<a href="/r/copies/`); n != 20 || !strings.Contains(body, "and more") {
		t.Errorf("%d other repositories named, \"and more\" %v; want 20 and more", n, strings.Contains(body, "and more"))
	}
	_, body = e.browser(t).get("/r/copies/c03/-/manifest/latest")
	if strings.Contains(body, `<a href="/r/copies/c03/-/manifest/sha256`) {
		t.Errorf("the page names its own repository among the others")
	}
}

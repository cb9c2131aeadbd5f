package auth

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testGuard is a token-server guard over alice (admin), bob and carol
// (devs) with the README policy.
func testGuard(t testing.TB, mode Mode) *Guard {
	t.Helper()
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "pw-alice"), bcryptLine(t, "bob", "pw-bob"), bcryptLine(t, "carol", "pw-carol"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	pol := testPolicy()
	pol.Groups["devs"] = []string{"bob", "carol"}
	g := &Guard{Mode: mode, BasicRealm: "test-realm", Service: "wharf", Htpasswd: h, Policy: pol}
	if mode == ModeTokenServer {
		key := ecKey(t)
		g.Signer, _ = NewSigner(key, "wharf", "wharf", 5*time.Minute, time.Hour)
		g.Verifier, _ = NewVerifier("wharf", "wharf", []crypto.PublicKey{key.Public()}, nil)
	}
	g.Init()
	return g
}

func req(method, target, user, pass string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	return r
}

func repoScope(name string, actions ...string) []Scope {
	return []Scope{{Type: "repository", Name: name, Actions: actions}}
}

func TestGuardAuthorizeBasic(t *testing.T) {
	g := testGuard(t, ModeBasic)
	for _, tc := range []struct {
		name         string
		user, pass   string
		need         []Scope
		requireLogin bool
		status       int // 0: allowed
		code         string
	}{
		{"base, anonymous", "", "", nil, true, 401, "UNAUTHORIZED"},
		{"base, bob", "bob", "pw-bob", nil, true, 0, ""},
		{"base, wrong password", "bob", "nope", nil, true, 401, "UNAUTHORIZED"},
		{"base, no such user", "mallory", "pw-bob", nil, true, 401, "UNAUTHORIZED"},
		{"anonymous pull public", "", "", repoScope("library/alpine", "pull"), false, 0, ""},
		{"anonymous push public", "", "", repoScope("library/alpine", "push"), false, 401, "UNAUTHORIZED"},
		{"anonymous pull private", "", "", repoScope("bob/app", "pull"), false, 401, "UNAUTHORIZED"},
		{"bob pull own", "bob", "pw-bob", repoScope("bob/app", "pull"), false, 0, ""},
		{"bob push carol", "bob", "pw-bob", repoScope("carol/app", "push"), false, 403, "DENIED"},
		{"bob delete team-a", "bob", "pw-bob", repoScope("team-a/x", "delete"), false, 403, "DENIED"},
		{"carol push team-a", "carol", "pw-carol", repoScope("team-a/x", "push"), false, 0, ""},
		{"alice anything", "alice", "pw-alice", repoScope("bob/app", "delete"), false, 0, ""},
		{"no need, anonymous", "", "", nil, false, 0, ""},
	} {
		d, err := g.Authorize(req("GET", "/v2/", tc.user, tc.pass), tc.need, tc.requireLogin)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			} else if tc.user != "" && d.Identity.User != tc.user {
				t.Errorf("%s: identity %+v", tc.name, d.Identity)
			}
			continue
		}
		den, ok := AsDenied(err)
		if !ok || den.Status != tc.status || den.Code != tc.code {
			t.Errorf("%s: got %v (%+v), want %d %s", tc.name, err, den, tc.status, tc.code)
			continue
		}
		if tc.status == 401 && den.Challenge != `Basic realm="test-realm"` {
			t.Errorf("%s: challenge %q", tc.name, den.Challenge)
		}
		if tc.status == 403 && den.Challenge != "" {
			t.Errorf("%s: 403 with a challenge %q", tc.name, den.Challenge)
		}
	}
}

func TestGuardModeNone(t *testing.T) {
	var nilGuard *Guard
	for _, g := range []*Guard{nilGuard, {Mode: ModeNone}} {
		d, err := g.Authorize(req("DELETE", "/v2/x/manifests/y", "", ""), repoScope("x", "delete"), true)
		if err != nil || !d.Allows("repository", "x", "delete") || d.FiltersCatalog() {
			t.Errorf("no auth: %v %+v", err, d)
		}
	}
}

func TestGuardChallengeToken(t *testing.T) {
	g := testGuard(t, ModeTokenServer)
	r := req("GET", "http://reg.example:5000/v2/bob/app/manifests/latest", "", "")
	r.Host = "reg.example:5000"
	_, err := g.Authorize(r, repoScope("bob/app", "pull"), false)
	den, _ := AsDenied(err)
	want := `Bearer realm="http://reg.example:5000/auth/token",service="wharf",scope="repository:bob/app:pull"`
	if den == nil || den.Challenge != want {
		t.Errorf("challenge %+v, want %s", den, want)
	}
	// Several scopes are space-separated in one parameter; error only when
	// a credential was sent.
	tok, _, _ := g.Signer.Issue("bob", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	two := append(repoScope("carol/app", "pull"), repoScope("bob/app", "push")...)
	_, err = g.Authorize(r, two, false)
	den, _ = AsDenied(err)
	if den == nil || den.Status != 403 {
		t.Errorf("bob with a token lacking the scope: %+v, want 403", den)
	}
	r.Header.Del("Authorization")
	_, err = g.Authorize(r, two, false)
	den, _ = AsDenied(err)
	if den == nil || !strings.Contains(den.Challenge, `scope="repository:carol/app:pull repository:bob/app:push"`) ||
		strings.Contains(den.Challenge, "error=") {
		t.Errorf("anonymous challenge %+v", den)
	}
	r.Header.Set("Authorization", "Bearer garbage")
	_, err = g.Authorize(r, two, false)
	den, _ = AsDenied(err)
	if den == nil || den.Status != 401 || !strings.Contains(den.Challenge, `error="invalid_token"`) {
		t.Errorf("bad token: %+v", den)
	}
	// A configured realm wins.
	g.TokenRealm = "https://auth.example/token"
	r.Header.Del("Authorization")
	_, err = g.Authorize(r, nil, true)
	den, _ = AsDenied(err)
	if den == nil || !strings.HasPrefix(den.Challenge, `Bearer realm="https://auth.example/token",service="wharf"`) {
		t.Errorf("configured realm: %+v", den)
	}
}

func TestGuardTokens(t *testing.T) {
	g := testGuard(t, ModeTokenServer)
	bearer := func(tok string) *http.Request {
		r := req("GET", "/v2/", "", "")
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	tok, _, _ := g.Signer.Issue("bob", repoScope("bob/app", "pull", "push"))
	d, err := g.Authorize(bearer(tok), repoScope("bob/app", "push"), false)
	if err != nil || d.Identity.User != "bob" {
		t.Fatalf("token with the scope: %v", err)
	}
	// The token grants what it carries, not what the policy would allow.
	if d.Allows("repository", "bob/other", "pull") {
		t.Errorf("token allows a repository it does not carry")
	}
	if _, err := g.Authorize(bearer(tok), repoScope("bob/app", "delete"), false); err == nil {
		t.Errorf("token without delete allowed delete")
	}
	// The catalog view of a wharf token follows the policy.
	if !d.FiltersCatalog() || !d.CanSee("bob/other") || !d.CanSee("library/x") || d.CanSee("carol/app") {
		t.Errorf("bob's catalog view wrong")
	}
	adm, _, _ := g.Signer.Issue("alice", nil)
	d, err = g.Authorize(bearer(adm), nil, true)
	if err != nil || !d.CanSee("carol/app") {
		t.Errorf("alice's token: %v, sees carol/app %v", err, d != nil && d.CanSee("carol/app"))
	}
	// Refresh tokens are not access tokens.
	rt, _ := g.Signer.IssueRefresh("bob")
	if _, err := g.Authorize(bearer(rt), nil, true); err == nil {
		t.Errorf("refresh token accepted as an access token")
	}
	// An anonymous token (no subject) is anonymous.
	anon, _, _ := g.Signer.Issue("", repoScope("library/alpine", "pull"))
	d, err = g.Authorize(bearer(anon), repoScope("library/alpine", "pull"), false)
	if err != nil || !d.Identity.Anonymous {
		t.Errorf("anonymous token: %v %+v", err, d)
	}
	if _, err := g.Authorize(bearer(anon), nil, true); err == nil {
		t.Errorf("anonymous token passes a login check")
	}
	// Unsupported scheme.
	r := req("GET", "/v2/", "", "")
	r.Header.Set("Authorization", "Digest foo")
	if den, _ := AsDenied(firstErr(g.Authorize(r, nil, true))); den == nil || den.Status != 401 {
		t.Errorf("Digest scheme: %+v", den)
	}
}

func firstErr(_ *Decision, err error) error { return err }

func TestGuardThrottle(t *testing.T) {
	g := testGuard(t, ModeBasic)
	c := newFakeClock()
	guardClock(g, c)
	for i := range failuresPerAddrUser {
		_, err := g.Authorize(req("GET", "/v2/", "bob", "wrong"), nil, true)
		if den, _ := AsDenied(err); den == nil || den.Status != 401 {
			t.Fatalf("failure %d: %+v, want 401", i+1, den)
		}
	}
	_, err := g.Authorize(req("GET", "/v2/", "bob", "pw-bob"), nil, true)
	den, _ := AsDenied(err)
	if den == nil || den.Status != 429 || den.Code != "TOOMANYREQUESTS" || den.RetryAfter <= 0 || den.RetryAfter > time.Minute {
		t.Fatalf("after %d failures for bob from one address, even his (never verified) password: %+v, want 429 with Retry-After", failuresPerAddrUser, den)
	}
	// Another address is fine.
	other := req("GET", "/v2/", "bob", "pw-bob")
	other.RemoteAddr = "192.0.2.2:999"
	if _, err := g.Authorize(other, nil, true); err != nil {
		t.Errorf("bob from another address: %v", err)
	}
	c.add(time.Minute)
	if _, err := g.Authorize(req("GET", "/v2/", "bob", "wrong"), nil, true); statusOf(err) != 401 {
		t.Errorf("a guess after the window: %v, want 401", err)
	}

	// Per user: failures spread over many addresses.
	g = testGuard(t, ModeBasic)
	for i := range failuresPerUser {
		r := req("GET", "/v2/", "carol", "wrong")
		r.RemoteAddr = "198.51.100." + strconv.Itoa(i) + ":1"
		g.Authorize(r, nil, true)
	}
	r := req("GET", "/v2/", "carol", "pw-carol")
	r.RemoteAddr = "203.0.113.9:1"
	if den, _ := AsDenied(firstErr(g.Authorize(r, nil, true))); den == nil || den.Status != 429 {
		t.Errorf("after %d failures for carol from many addresses: %+v, want 429", failuresPerUser, den)
	}
	r = req("GET", "/v2/", "bob", "pw-bob")
	r.RemoteAddr = "203.0.113.9:1"
	if _, err := g.Authorize(r, nil, true); err != nil {
		t.Errorf("bob from the same address: %v", err)
	}
}

func TestClientAddrIgnoresForwarded(t *testing.T) {
	r := req("GET", "/v2/", "", "")
	r.Header.Set("X-Forwarded-For", "10.9.9.9")
	r.Header.Set("X-Real-IP", "10.9.9.9")
	if got := clientAddr(r); got != "192.0.2.1" {
		t.Errorf("clientAddr = %q, want the connection's address", got)
	}
	r.RemoteAddr = "[2001:db8::1]:443"
	if got := clientAddr(r); got != "2001:db8::1" {
		t.Errorf("IPv6: %q", got)
	}
}

// tokenResp is the token endpoint's JSON.
type tokenResp struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

func callToken(t testing.TB, h http.Handler, r *http.Request) (*httptest.ResponseRecorder, tokenResp) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var tr tokenResp
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
			t.Fatalf("token response: %v: %s", err, w.Body)
		}
	}
	return w, tr
}

func TestTokenHandler(t *testing.T) {
	g := testGuard(t, ModeTokenServer)
	h := &TokenHandler{Guard: g}
	access := func(tok string) []Scope {
		c, err := g.Verifier.Verify(tok)
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		return c.Access
	}

	// GET with basic credentials: only the allowed subset is granted.
	q := url.Values{"service": {"wharf"}, "scope": {"repository:bob/app:pull,push", "repository:carol/app:pull repository:library/x:pull,push"}}
	w, tr := callToken(t, h, req("GET", "/auth/token?"+q.Encode(), "bob", "pw-bob"))
	if w.Code != 200 || tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 300 || tr.RefreshToken != "" {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("token response cacheable")
	}
	want := []Scope{{"repository", "bob/app", []string{"pull", "push"}}, {"repository", "library/x", []string{"pull"}}}
	if got := access(tr.Token); !reflect.DeepEqual(got, want) {
		t.Errorf("granted %+v, want %+v", got, want)
	}
	// Anonymous GET: public pull only, no refresh token even if asked.
	q = url.Values{"scope": {"repository:library/x:pull,push", "repository:bob/app:pull"}, "offline_token": {"true"}}
	w, tr = callToken(t, h, req("GET", "/auth/token?"+q.Encode(), "", ""))
	if w.Code != 200 || tr.RefreshToken != "" {
		t.Fatalf("anonymous GET: %d %s", w.Code, w.Body)
	}
	if got := access(tr.Token); !reflect.DeepEqual(got, []Scope{{"repository", "library/x", []string{"pull"}}}) {
		t.Errorf("anonymous grant %+v", got)
	}
	// offline_token with credentials: a refresh token.
	q = url.Values{"scope": {"repository:bob/app:pull"}, "offline_token": {"true"}}
	w, tr = callToken(t, h, req("GET", "/auth/token?"+q.Encode(), "bob", "pw-bob"))
	if w.Code != 200 || tr.RefreshToken == "" {
		t.Fatalf("offline GET: %d %s", w.Code, w.Body)
	}
	refresh := tr.RefreshToken

	// Bad credentials: 401 with a Basic challenge (the token endpoint takes
	// basic auth), same body for unknown user and wrong password.
	w1, _ := callToken(t, h, req("GET", "/auth/token?scope=repository:bob/app:pull", "bob", "wrong"))
	w2, _ := callToken(t, h, req("GET", "/auth/token?scope=repository:bob/app:pull", "nobody", "wrong"))
	if w1.Code != 401 || w1.Header().Get("WWW-Authenticate") != `Basic realm="test-realm"` {
		t.Errorf("bad password: %d %q", w1.Code, w1.Header().Get("WWW-Authenticate"))
	}
	if w1.Code != w2.Code || w1.Body.String() != w2.Body.String() || w1.Header().Get("WWW-Authenticate") != w2.Header().Get("WWW-Authenticate") {
		t.Errorf("unknown user and wrong password differ:\n%d %s\n%d %s", w1.Code, w1.Body, w2.Code, w2.Body)
	}
	// A bearer token is not a credential for the token endpoint.
	r := req("GET", "/auth/token", "", "")
	r.Header.Set("Authorization", "Bearer "+tr.Token)
	if w, _ := callToken(t, h, r); w.Code != 401 {
		t.Errorf("GET with a bearer token: %d", w.Code)
	}
	// Unknown service.
	if w, _ := callToken(t, h, req("GET", "/auth/token?service=other", "bob", "pw-bob")); w.Code != 400 {
		t.Errorf("unknown service: %d", w.Code)
	}
	// Other methods.
	if w, _ := callToken(t, h, req("PUT", "/auth/token", "bob", "pw-bob")); w.Code != 405 {
		t.Errorf("PUT: %d", w.Code)
	}

	post := func(form url.Values) (*httptest.ResponseRecorder, tokenResp) {
		r := httptest.NewRequest("POST", "/auth/token", strings.NewReader(form.Encode()))
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return callToken(t, h, r)
	}
	// OAuth2 password grant.
	w, tr = post(url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"pw-carol"}, "service": {"wharf"},
		"client_id": {"test"}, "access_type": {"offline"}, "scope": {"repository:team-a/x:pull,push,delete"}})
	if w.Code != 200 || tr.AccessToken == "" || tr.Token != "" || tr.TokenType != "Bearer" || tr.RefreshToken == "" ||
		tr.Scope != "repository:team-a/x:pull,push" {
		t.Fatalf("password grant: %d %s", w.Code, w.Body)
	}
	// Refresh grant: a fresh token for the refresh token's user.
	w, tr = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"wharf"},
		"scope": {"repository:bob/app:pull repository:carol/app:pull"}})
	if w.Code != 200 || tr.AccessToken == "" || tr.Scope != "repository:bob/app:pull" {
		t.Fatalf("refresh grant: %d %s", w.Code, w.Body)
	}
	if c, _ := g.Verifier.Verify(tr.AccessToken); c == nil || c.Subject != "bob" {
		t.Errorf("refreshed token subject: %+v", c)
	}
	// An access token is not a refresh token.
	if w, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.AccessToken}}); w.Code != 401 {
		t.Errorf("access token as refresh token: %d", w.Code)
	}
	if w, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage"}}); w.Code != 401 {
		t.Errorf("garbage refresh token: %d", w.Code)
	}
	if w, _ := post(url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"nope"}}); w.Code != 401 {
		t.Errorf("wrong password grant: %d", w.Code)
	}
	if w, _ := post(url.Values{"grant_type": {"client_credentials"}}); w.Code != 400 {
		t.Errorf("unknown grant type: %d", w.Code)
	}
	// A removed user's refresh token stops working.
	writeHtpasswd(t, g.Htpasswd.path, bcryptLine(t, "alice", "pw-alice"))
	g.Htpasswd.checked = time.Time{}
	time.Sleep(10 * time.Millisecond)
	writeHtpasswd(t, g.Htpasswd.path, bcryptLine(t, "alice", "pw-alice"))
	g.Htpasswd.checked = time.Time{}
	if w, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); w.Code != 401 {
		t.Errorf("refresh token of a removed user: %d %s", w.Code, w.Body)
	}
}

func TestWriteDenied(t *testing.T) {
	w := httptest.NewRecorder()
	WriteDenied(w, &Denied{Status: 429, Code: "TOOMANYREQUESTS", Message: "slow down", RetryAfter: 1500 * time.Millisecond})
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("429: %d Retry-After %q (want rounded up to 2)", w.Code, w.Header().Get("Retry-After"))
	}
	var body struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Code != "TOOMANYREQUESTS" {
		t.Errorf("body %s", w.Body)
	}
}

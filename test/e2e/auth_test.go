package e2e

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/wharf-registry/wharf/internal/auth"
)

// The access-control tests: logins (htpasswd basic auth and the built-in
// token server), the access policy, throttling and secrets in the log.

// auRepos are the repositories of the permission tests; the *-none ones are
// never pushed.
var auRepos = []string{"library/pub", "bob/app", "carol/app", "team/app", "secret/app", "bob/none", "secret/none"}

// auExisting are the repositories auSeed pushes.
var auExisting = []string{"library/pub", "bob/app", "carol/app", "team/app", "secret/app"}

// auAllowed is what auPolicy lets each caller do, written out by hand
// (not computed by the code under test). "" is anonymous.
var auAllowed = map[string]map[string]string{
	"alice": {"library/pub": "pull,push,delete", "bob/app": "pull,push,delete", "carol/app": "pull,push,delete",
		"team/app": "pull,push,delete", "secret/app": "pull,push,delete", "bob/none": "pull,push,delete", "secret/none": "pull,push,delete"},
	"bob":   {"library/pub": "pull", "bob/app": "pull,push,delete", "team/app": "pull", "bob/none": "pull,push,delete"},
	"carol": {"library/pub": "pull", "carol/app": "pull,push,delete", "team/app": "pull,push"},
	"":      {"library/pub": "pull"},
}

// auCatalogs is what each caller's catalog lists once auSeed ran.
var auCatalogs = map[string][]string{
	"alice": {"bob/app", "carol/app", "library/pub", "secret/app", "team/app"},
	"bob":   {"bob/app", "library/pub", "team/app"},
	"carol": {"carol/app", "library/pub", "team/app"},
	"":      {"library/pub"},
}

// auRemote is whRemote with credentials and a transport that records the
// requests made.
func auRemote(t testing.TB, a authn.Authenticator, rec *auRecorder) []remote.Option {
	opts := []remote.Option{remote.WithAuth(a)}
	if rec != nil {
		opts = append(opts, remote.WithTransport(rec))
	}
	return whRemote(t, opts...)
}

func auBasic(user string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: auUsers[user]}
}

// auSeedImages pushes a distinct small image to each of auExisting as
// alice, with ggcr (through the token flow in token mode), and returns
// them by repository.
func auSeed(t *testing.T, s *Server) map[string]v1.Image {
	t.Helper()
	imgs := map[string]v1.Image{}
	for _, repo := range auExisting {
		img := whRandomImage(t, 300, 2)
		if err := remote.Write(whRef(t, s, repo+":latest"), img, auRemote(t, auBasic("alice"), nil)...); err != nil {
			t.Fatalf("seed %s as alice: %v\nserver log:\n%s", repo, err, confTail(s.Log.String(), 4000))
		}
		imgs[repo] = img
	}
	return imgs
}

// auVerifyPull pulls ref with ggcr and checks it is want: manifest digest
// and bytes, config, and every layer's bytes hashed here.
func auVerifyPull(t testing.TB, ref name.Reference, want v1.Image, opts ...remote.Option) error {
	t.Helper()
	got, err := remote.Image(ref, opts...)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	wm, _ := want.RawManifest()
	gm, err := got.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if !bytes.Equal(wm, gm) {
		return fmt.Errorf("manifest bytes differ")
	}
	wc, _ := want.RawConfigFile()
	gc, err := got.RawConfigFile()
	if err != nil || !bytes.Equal(wc, gc) {
		return fmt.Errorf("config differs (%v)", err)
	}
	layers, err := got.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		if sum := "sha256:" + hex.EncodeToString(h.Sum(nil)); sum != d.String() {
			return fmt.Errorf("layer %d hashes to %s, want %s", i, sum, d)
		}
	}
	return nil
}

// auStatusOf is the HTTP status inside a ggcr error, or 0.
func auStatusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// auCheckLog fails if the server's log holds a password, an Authorization
// header value or a token.
func auCheckLog(t testing.TB, s *Server, tokens ...string) {
	t.Helper()
	log := s.Log.String()
	var secrets []string
	for u, p := range auUsers {
		secrets = append(secrets, p, base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
	}
	secrets = append(secrets, "wrong-Password-0", base64.StdEncoding.EncodeToString([]byte("bob:wrong-Password-0")))
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		secrets = append(secrets, tok)
		// A JWT's signature alone is secret enough.
		if i := strings.LastIndexByte(tok, '.'); i > 0 && len(tok)-i > 20 {
			secrets = append(secrets, tok[i+1:])
		}
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("server log contains a secret (%.12s...)", s)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "authorization") && (strings.Contains(l, "basic ") || strings.Contains(l, "bearer ")) {
			t.Errorf("server log line shows an Authorization header: %.200s", line)
		}
	}
	if len(log) == 0 {
		t.Errorf("server log is empty: the check above proves nothing")
	}
}

const auWrongPass = "wrong-Password-0"

// auNextIP hands out loopback addresses, one per wrong-password request of
// the matrix, so that those requests do not throttle each other.
var auNextIP atomic.Int32

func auFreshIP() string {
	n := auNextIP.Add(1)
	return fmt.Sprintf("127.0.%d.%d", 10+n/250, 1+n%250)
}

// --- the permission matrix ---

type auCaller struct {
	name string // "alice", "bob", "carol", "" (anonymous) or "wrong"
}

func (c auCaller) label() string {
	switch c.name {
	case "":
		return "anonymous"
	case "wrong":
		return "bob-wrong-password"
	}
	return c.name
}

// auAction is one action of the matrix as a request.
type auAction struct {
	name   string
	method string
	path   func(repo string) string
	// status when allowed: for existing and missing repositories.
	okExisting, okMissing int
}

var auZeroDigest = "sha256:" + strings.Repeat("0", 64)

var auActions = []auAction{
	{"pull", http.MethodGet, func(r string) string { return "/v2/" + r + "/manifests/latest" }, 200, 404},
	{"tags", http.MethodGet, func(r string) string { return "/v2/" + r + "/tags/list" }, 200, 404},
	{"push", http.MethodPost, func(r string) string { return "/v2/" + r + "/blobs/uploads/" }, 202, 202},
	// Deleting a manifest that does not exist: allowed means 404, and the
	// matrix leaves the content in place.
	{"delete", http.MethodDelete, func(r string) string { return "/v2/" + r + "/manifests/" + auZeroDigest }, 404, 404},
}

// auNeeds maps an action of the matrix to the policy action it needs.
func auNeeds(a string) string {
	if a == "tags" {
		return "pull"
	}
	return a
}

func auMayDo(user, repo, action string) bool {
	if user == "wrong" {
		return false
	}
	return slices.Contains(strings.Split(auAllowed[user][repo], ","), auNeeds(action))
}

func TestAuthPermissionMatrix(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			auSeed(t, s)
			var tokens []string
			callers := []auCaller{{"alice"}, {"bob"}, {"carol"}, {""}, {"wrong"}}
			for _, c := range callers {
				for _, repo := range auRepos {
					// The credential for this caller and repository.
					req := auReq{}
					switch {
					case c.name == "wrong":
						req.User, req.Pass = "bob", auWrongPass
						req.Client = auClientFrom(auFreshIP())
					case mode == "basic" && c.name != "":
						req.User, req.Pass = c.name, auUsers[c.name]
					case mode == "token":
						tok := auMatrixToken(t, s, c, repo)
						req.Token = tok
						tokens = append(tokens, tok)
					}
					for _, a := range auActions {
						if c.name == "wrong" && a.name != "pull" && repo != "bob/app" {
							continue // a few wrong-password requests are enough
						}
						r := req
						r.Method, r.URL = a.method, s.URL+a.path(repo)
						if a.method == http.MethodPost {
							r.Header = map[string]string{"Content-Length": "0"}
						}
						got := auDo(t, r)
						auCheckMatrix(t, mode, c, repo, a, got)
					}
				}
			}
			auMatrixCatalog(t, s, mode)
			auCheckLog(t, s, tokens...)
		})
	}
}

// auMatrixToken gets a token for all actions on repo and checks the token
// server granted exactly what the policy allows; "" for the wrong password
// (checked to be refused).
func auMatrixToken(t *testing.T, s *Server, c auCaller, repo string) string {
	t.Helper()
	scope := "repository:" + repo + ":pull,push,delete"
	user, pass := c.name, auUsers[c.name]
	r, tr := auGetToken(t, s, user, pass, scope)
	if r.Status != 200 {
		t.Fatalf("token for %s on %s: %s", c.label(), repo, r)
	}
	tok := tr.Token
	if tok == "" || tok != tr.AccessToken {
		t.Fatalf("token for %s on %s: token %q access_token %q", c.label(), repo, tr.Token, tr.AccessToken)
	}
	sub, access := auClaims(t, tok)
	if sub != c.name {
		t.Errorf("token for %s: sub %q", c.label(), sub)
	}
	var granted []string
	for _, a := range access {
		if a.Type != "repository" || a.Name != repo {
			t.Errorf("token for %s on %s grants %+v", c.label(), repo, a)
			continue
		}
		granted = append(granted, a.Actions...)
	}
	if got, want := strings.Join(granted, ","), auAllowed[c.name][repo]; got != want {
		t.Errorf("token server granted %s on %s: %q, want %q", c.label(), repo, got, want)
	}
	return tok
}

func auCheckMatrix(t *testing.T, mode string, c auCaller, repo string, a auAction, got whResp) {
	t.Helper()
	what := fmt.Sprintf("%s: %s %s on %s", mode, c.label(), a.name, repo)
	exists := slices.Contains(auExisting, repo)
	switch {
	case auMayDo(c.name, repo, a.name):
		want := a.okMissing
		if exists {
			want = a.okExisting
		}
		if got.Status != want {
			t.Errorf("%s: %s, want %d", what, got, want)
		}
		if want == 404 {
			if code := auErrorCode(got); code != "MANIFEST_UNKNOWN" && code != "NAME_UNKNOWN" {
				t.Errorf("%s: code %q, want MANIFEST_UNKNOWN or NAME_UNKNOWN", what, code)
			}
		}
	case c.name == "" || c.name == "wrong":
		if got.Status != 401 || auErrorCode(got) != "UNAUTHORIZED" {
			t.Errorf("%s: %s, want 401 UNAUTHORIZED", what, got)
		}
		ch := got.Header.Get("WWW-Authenticate")
		switch {
		case mode == "basic" && ch != `Basic realm="wharf-test"`:
			t.Errorf("%s: challenge %q, want Basic realm=\"wharf-test\"", what, ch)
		case mode == "token" && !strings.HasPrefix(ch, `Bearer realm="`):
			t.Errorf("%s: challenge %q, want Bearer", what, ch)
		}
		if mode == "token" && c.name == "" {
			// The challenge names the scope the request needs.
			want := fmt.Sprintf(`scope="repository:%s:%s"`, repo, auNeeds(a.name))
			if !strings.Contains(ch, want) || !strings.Contains(ch, `service="wharf"`) || !strings.Contains(ch, "/auth/token\"") {
				t.Errorf("%s: challenge %q, want realm .../auth/token, service wharf and %s", what, ch, want)
			}
		}
	default:
		if got.Status != 403 || auErrorCode(got) != "DENIED" {
			t.Errorf("%s: %s, want 403 DENIED (exists: %v)", what, got, exists)
		}
	}
}

// auCatalogAs lists the catalog as user ("" anonymous) in mode, following
// Link headers with page size n (0: one request without n).
func auCatalogAs(t *testing.T, s *Server, mode, user string, n int) (whResp, []string) {
	t.Helper()
	req := auReq{Method: http.MethodGet}
	if user != "" {
		if mode == "basic" {
			req.User, req.Pass = user, auUsers[user]
		} else {
			r, tr := auGetToken(t, s, user, auUsers[user], "registry:catalog:*")
			if r.Status != 200 {
				t.Fatalf("catalog token for %s: %s", user, r)
			}
			_, access := auClaims(t, tr.Token)
			wantGrant := user == "alice"
			if (len(access) > 0) != wantGrant {
				t.Errorf("catalog token for %s grants %+v; want the catalog only for the admin", user, access)
			}
			req.Token = tr.Token
		}
	}
	path := "/v2/_catalog"
	if n > 0 {
		path += "?n=" + strconv.Itoa(n)
	}
	var all []string
	var last whResp
	for range 20 {
		req.URL = s.URL + path
		last = auDo(t, req)
		if last.Status != 200 {
			return last, nil
		}
		var body struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(last.Body, &body); err != nil {
			t.Fatalf("catalog body: %v: %s", err, last)
		}
		all = append(all, body.Repositories...)
		m := whLinkNext.FindStringSubmatch(last.Header.Get("Link"))
		if m == nil {
			return last, all
		}
		path = m[1]
	}
	t.Fatalf("catalog pagination as %q did not end", user)
	return last, nil
}

func auMatrixCatalog(t *testing.T, s *Server, mode string) {
	for _, user := range []string{"alice", "bob", "carol", ""} {
		for _, n := range []int{0, 1, 2} {
			r, got := auCatalogAs(t, s, mode, user, n)
			if r.Status != 200 {
				t.Errorf("%s: catalog as %q (n=%d): %s", mode, user, n, r)
				continue
			}
			if want := auCatalogs[user]; !slices.Equal(got, want) {
				t.Errorf("%s: catalog as %q (n=%d): %v, want %v", mode, user, n, got, want)
			}
		}
	}
	// Wrong password: refused, not an anonymous view.
	r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/_catalog", User: "bob", Pass: auWrongPass, Client: auClientFrom(auFreshIP())})
	if r.Status != 401 {
		t.Errorf("%s: catalog with a wrong password: %s, want 401", mode, r)
	}
}

// TestAuthCatalogZeroPage: n=0 asks for an empty page. A caller whose view
// is filtered must get one too (200, no repositories), as an admin does.
func TestAuthCatalogZeroPage(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	for _, user := range []string{"alice", "bob", ""} {
		req := auReq{Method: "GET", URL: s.URL + "/v2/_catalog?n=0"}
		if user != "" {
			req.User, req.Pass = user, auUsers[user]
		}
		ctxReq, err := http.NewRequestWithContext(ctx(t), req.Method, req.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			ctxReq.SetBasicAuth(user, auUsers[user])
		}
		resp, err := whHTTP.Do(ctxReq)
		if err != nil {
			t.Errorf("GET /v2/_catalog?n=0 as %q: %v (the server dropped the connection)\nserver log (tail):\n%s",
				user, err, confTail(s.Log.String(), 3000))
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct {
			Repositories []string `json:"repositories"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil || body.Repositories == nil || len(body.Repositories) != 0 {
			t.Errorf("GET /v2/_catalog?n=0 as %q: %d %s, want 200 {\"repositories\":[]}", user, resp.StatusCode, b)
		}
	}
}

// TestAuthDeniedLooksLikeMissing: a known user without the right gets the
// same answer whether the repository exists or not.
func TestAuthDeniedLooksLikeMissing(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	auSeed(t, s)
	for _, a := range auActions {
		var answers []string
		for _, repo := range []string{"secret/app", "secret/none"} {
			r := auDo(t, auReq{Method: a.method, URL: s.URL + a.path(repo), User: "bob", Pass: auUsers["bob"],
				Header: map[string]string{"Content-Length": "0"}})
			body := strings.ReplaceAll(string(r.Body), repo, "REPO")
			answers = append(answers, fmt.Sprintf("%d %s", r.Status, body))
		}
		if answers[0] != answers[1] {
			t.Errorf("%s: existing and missing repository answer differently:\n%s\n%s", a.name, answers[0], answers[1])
		}
	}
}

// --- go-containerregistry with credentials ---

func TestAuthGGCRBasic(t *testing.T) {
	auGGCR(t, "basic")
}

func TestAuthGGCRToken(t *testing.T) {
	auGGCR(t, "token")
}

func auGGCR(t *testing.T, mode string) {
	var s *Server
	if mode == "basic" {
		s, _ = auBasicServer(t, auPolicy)
	} else {
		s, _ = auTokenServer(t, auPolicy)
	}
	rec := &auRecorder{base: http.DefaultTransport}

	// bob pushes to his namespace and pulls it back.
	img := whRandomImage(t, 2048, 3)
	ref := whRef(t, s, "bob/tool:v1")
	if err := remote.Write(ref, img, auRemote(t, auBasic("bob"), rec)...); err != nil {
		t.Fatalf("%s: push bob/tool as bob: %v\nserver log:\n%s", mode, err, confTail(s.Log.String(), 4000))
	}
	if err := auVerifyPull(t, ref, img, auRemote(t, auBasic("bob"), rec)...); err != nil {
		t.Errorf("%s: pull bob/tool as bob: %v", mode, err)
	}
	// The token flow really ran: challenge, then tokens from /auth/token.
	tokenReqs := rec.count("GET /auth/token") + rec.count("POST /auth/token")
	if mode == "token" && tokenReqs == 0 {
		t.Errorf("token mode: ggcr fetched no token")
	}
	if mode == "basic" && tokenReqs != 0 {
		t.Errorf("basic mode: %d token requests", tokenReqs)
	}

	// bob may not push into carol's namespace.
	err := remote.Write(whRef(t, s, "carol/tool:v1"), img, auRemote(t, auBasic("bob"), nil)...)
	if err == nil || auStatusOf(err) != http.StatusForbidden {
		t.Errorf("%s: bob pushing to carol/tool: %v, want 403", mode, err)
	}
	// carol can't read bob's image.
	if _, err := remote.Image(ref, auRemote(t, auBasic("carol"), nil)...); auStatusOf(err) != http.StatusForbidden {
		t.Errorf("%s: carol pulling bob/tool: %v, want 403", mode, err)
	}
	// A wrong password fails.
	if _, err := remote.Image(ref, auRemote(t, &authn.Basic{Username: "bob", Password: auWrongPass}, nil)...); auStatusOf(err) != http.StatusUnauthorized {
		t.Errorf("%s: wrong password: %v, want 401", mode, err)
	}

	// alice (admin) publishes to library/; anyone pulls it without logging in.
	pub := whRandomImage(t, 1024, 2)
	pubRef := whRef(t, s, "library/hello:1.0")
	if err := remote.Write(pubRef, pub, auRemote(t, auBasic("alice"), nil)...); err != nil {
		t.Fatalf("%s: alice pushing library/hello: %v", mode, err)
	}
	if err := auVerifyPull(t, pubRef, pub, auRemote(t, authn.Anonymous, nil)...); err != nil {
		t.Errorf("%s: anonymous pull of a public repository: %v", mode, err)
	}
	// And sees nothing else.
	if _, err := remote.Image(ref, auRemote(t, authn.Anonymous, nil)...); auStatusOf(err) != http.StatusUnauthorized {
		t.Errorf("%s: anonymous pull of bob/tool: %v, want 401", mode, err)
	}
	// Anonymous may not push to a public repository.
	if err := remote.Write(whRef(t, s, "library/hello:evil"), img, auRemote(t, authn.Anonymous, nil)...); auStatusOf(err) != http.StatusUnauthorized {
		t.Errorf("%s: anonymous push to library/hello: %v, want 401", mode, err)
	}
	// bob pulls the public image too.
	if err := auVerifyPull(t, pubRef, pub, auRemote(t, auBasic("bob"), nil)...); err != nil {
		t.Errorf("%s: bob pulling library/hello: %v", mode, err)
	}
	// ggcr's catalog and tag listing with credentials are filtered too.
	reg, _ := name.NewRegistry(s.Host(), name.Insecure)
	repos, err := remote.Catalog(ctx(t), reg, auRemote(t, auBasic("bob"), nil)...)
	if err != nil || !slices.Equal(repos, []string{"bob/tool", "library/hello"}) {
		t.Errorf("%s: bob's catalog via ggcr: %v %v", mode, repos, err)
	}
	repos, err = remote.Catalog(ctx(t), reg, auRemote(t, auBasic("alice"), nil)...)
	if err != nil || !slices.Equal(repos, []string{"bob/tool", "library/hello"}) {
		t.Errorf("%s: alice's catalog via ggcr: %v %v", mode, repos, err)
	}
	tags, err := remote.List(whRepo(t, s, "bob/tool"), auRemote(t, auBasic("bob"), nil)...)
	if err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("%s: bob listing bob/tool: %v %v", mode, tags, err)
	}
	if _, err := remote.List(whRepo(t, s, "bob/tool"), auRemote(t, auBasic("carol"), nil)...); auStatusOf(err) != http.StatusForbidden {
		t.Errorf("%s: carol listing bob/tool: %v, want 403", mode, err)
	}
	// bob deletes his tag.
	if err := remote.Delete(ref, auRemote(t, auBasic("bob"), nil)...); err != nil {
		t.Errorf("%s: bob deleting bob/tool:v1: %v", mode, err)
	}
	auCheckLog(t, s)
}

// TestAuthTokenRefresh: the OAuth2 form of the token endpoint, as docker
// and containerd use it: a password grant with a refresh token, then a
// refresh grant whose access token works.
func TestAuthTokenRefresh(t *testing.T) {
	s, ht := auTokenServer(t, auPolicy)
	img := whRandomImage(t, 512, 1)
	if err := remote.Write(whRef(t, s, "bob/app:latest"), img, auRemote(t, auBasic("bob"), nil)...); err != nil {
		t.Fatalf("push: %v", err)
	}
	post := func(form url.Values) (whResp, auTokenResponse) {
		r := auDo(t, auReq{Method: http.MethodPost, URL: s.URL + "/auth/token", Body: []byte(form.Encode()),
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		var tr auTokenResponse
		if r.Status == 200 {
			if err := json.Unmarshal(r.Body, &tr); err != nil {
				t.Fatalf("token response: %v: %s", err, r)
			}
		}
		return r, tr
	}
	r, tr := post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {auUsers["bob"]},
		"service": {"wharf"}, "client_id": {"wharf-test"}, "access_type": {"offline"},
		"scope": {"repository:bob/app:pull,push"}})
	if r.Status != 200 || tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("password grant: %s", r)
	}
	if tr.Scope != "repository:bob/app:pull,push" {
		t.Errorf("password grant scope %q", tr.Scope)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	refresh := tr.RefreshToken
	tokens := []string{tr.AccessToken, refresh}

	// The refresh token is not an access token.
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/bob/app/manifests/latest", Token: refresh}); r.Status != 401 {
		t.Errorf("refresh token used as an access token: %s, want 401", r)
	}
	r, tr = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"wharf"},
		"client_id": {"wharf-test"}, "scope": {"repository:bob/app:pull repository:carol/app:pull"}})
	if r.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("refresh grant: %s", r)
	}
	tokens = append(tokens, tr.AccessToken, tr.RefreshToken)
	if tr.Scope != "repository:bob/app:pull" {
		t.Errorf("refresh grant scope %q, want bob/app pull only", tr.Scope)
	}
	if sub, _ := auClaims(t, tr.AccessToken); sub != "bob" {
		t.Errorf("refreshed token subject %q", sub)
	}
	got := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/bob/app/manifests/latest", Token: tr.AccessToken,
		Header: map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json"}})
	wantManifest, _ := img.RawManifest()
	if got.Status != 200 || !bytes.Equal(got.Body, wantManifest) {
		t.Errorf("GET manifest with the refreshed token: %s", got)
	}
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/carol/app/tags/list", Token: tr.AccessToken}); r.Status != 403 {
		t.Errorf("refreshed token on carol/app: %s, want 403", r)
	}
	// An access token is not a refresh token; garbage neither.
	for _, bad := range []string{tr.AccessToken, "garbage", ""} {
		if r, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bad}, "service": {"wharf"}}); r.Status != 401 {
			t.Errorf("refresh grant with %.10q: %s, want 401", bad, r)
		}
	}
	// GET with offline_token=true returns a refresh token too.
	q := url.Values{"service": {"wharf"}, "scope": {"repository:bob/app:pull"}, "offline_token": {"true"}, "client_id": {"x"}}
	r = auDo(t, auReq{Method: "GET", URL: s.URL + "/auth/token?" + q.Encode(), User: "bob", Pass: auUsers["bob"]})
	var gt auTokenResponse
	json.Unmarshal(r.Body, &gt)
	if r.Status != 200 || gt.RefreshToken == "" || gt.Token == "" {
		t.Errorf("GET offline_token=true: %s", r)
	}
	tokens = append(tokens, gt.Token, gt.RefreshToken)
	// Wrong password on the form: 401.
	if r, _ := post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {auWrongPass}, "service": {"wharf"}}); r.Status != 401 {
		t.Errorf("password grant with a wrong password: %s", r)
	}
	// Unknown service: refused.
	if r, _ := post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {auUsers["bob"]}, "service": {"elsewhere"}}); r.Status == 200 {
		t.Errorf("password grant for another service: %s", r)
	}
	// A user removed from the htpasswd file loses the refresh grant.
	users := map[string]string{"alice": auUsers["alice"], "carol": auUsers["carol"]}
	os.Remove(ht)
	ht2 := auHtpasswd(t, users)
	data, _ := os.ReadFile(ht2)
	if err := os.WriteFile(ht+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(ht+".new", ht)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"wharf"}})
		if r.Status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("refresh token of a removed user still works after 10s: %s", r)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	auCheckLog(t, s, tokens...)
}

// TestAuthCrossRepoMount: mounting a blob from a repository the caller may
// not pull does not mount it (202: an upload session) and does not reveal
// it; from one it may pull, it mounts (201).
func TestAuthCrossRepoMount(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			imgs := auSeed(t, s)
			layerOf := func(repo string) string {
				ls, _ := imgs[repo].Layers()
				d, _ := ls[0].Digest()
				return d.String()
			}
			for _, tc := range []struct {
				from   string
				status int
			}{
				{"carol/app", 202},   // bob may not pull there
				{"secret/app", 202},  // nor there
				{"library/pub", 201}, // public
				{"team/app", 201},    // bob pulls team/* by rule
			} {
				dg := layerOf(tc.from)
				q := url.Values{"mount": {dg}, "from": {tc.from}}
				req := auReq{Method: http.MethodPost, URL: s.URL + "/v2/bob/app/blobs/uploads/?" + q.Encode(),
					Header: map[string]string{"Content-Length": "0"}}
				if mode == "basic" {
					req.User, req.Pass = "bob", auUsers["bob"]
				} else {
					// ggcr asks for push on the target and pull on the source.
					_, tr := auGetToken(t, s, "bob", auUsers["bob"], "repository:bob/app:pull,push", "repository:"+tc.from+":pull")
					req.Token = tr.Token
				}
				r := auDo(t, req)
				if r.Status != tc.status {
					t.Errorf("%s: bob mounting %s from %s: %s, want %d", mode, dg, tc.from, r, tc.status)
				}
				head := auReq{Method: http.MethodHead, URL: s.URL + "/v2/bob/app/blobs/" + dg, User: "bob", Pass: auUsers["bob"]}
				if mode == "token" {
					head.User, head.Pass, head.Token = "", "", req.Token
				}
				h := auDo(t, head)
				if want := map[int]int{201: 200, 202: 404}[tc.status]; h.Status != want {
					t.Errorf("%s: after mounting from %s, HEAD blob in bob/app: %d, want %d", mode, tc.from, h.Status, want)
				}
			}
			// A mount without "from" would copy any blob whose digest is
			// known: refused (202) for bob, even for a blob he cannot see.
			dg := layerOf("secret/app")
			r := auDo(t, auReq{Method: http.MethodPost, URL: s.URL + "/v2/bob/app/blobs/uploads/?mount=" + dg,
				User: "bob", Pass: auUsers["bob"], Header: map[string]string{"Content-Length": "0"}})
			if r.Status != 202 {
				t.Errorf("%s: bob mounting %s without from: %s, want 202", mode, dg, r)
			}
			// alice (admin) sees everything, so she may mount without from,
			// with basic credentials as with a token for the target only
			// (the conformance suite's blob-mount-anonymous does that).
			req := auReq{Method: http.MethodPost, URL: s.URL + "/v2/alice/copy/blobs/uploads/?mount=" + dg,
				Header: map[string]string{"Content-Length": "0"}}
			if mode == "basic" {
				req.User, req.Pass = "alice", auUsers["alice"]
			} else {
				_, tr := auGetToken(t, s, "alice", auUsers["alice"], "repository:alice/copy:pull,push")
				req.Token = tr.Token
			}
			if r := auDo(t, req); r.Status != 201 {
				t.Errorf("%s: alice (admin) mounting %s without from: %s, want 201", mode, dg, r)
			}
		})
	}
}

// TestAuthHtpasswdReload: `wharf htpasswd -f` on the running server's file
// changes a password within seconds, without a restart.
func TestAuthHtpasswdReload(t *testing.T) {
	s, ht := auBasicServer(t, auPolicy)
	// Each request from its own address: polling until the change shows
	// fails logins, which must not throttle the test's own address.
	get := func(user, pass string) int {
		return auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/", User: user, Pass: pass, Client: auClientFrom(auFreshIP())}).Status
	}
	if st := get("bob", auUsers["bob"]); st != 200 {
		t.Fatalf("bob before the change: %d", st)
	}
	newPass := "bob-New-Secret-7"
	auSetPassword(t, ht, "bob", newPass)
	// Poll with the new password (successes are not throttled).
	deadline := time.Now().Add(5 * time.Second)
	for get("bob", newPass) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("new password not accepted 5s after `wharf htpasswd -f`\nserver log:\n%s", confTail(s.Log.String(), 3000))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st := get("bob", auUsers["bob"]); st != 401 {
		t.Errorf("old password after the change: %d, want 401", st)
	}
	// Others are unaffected; a new user works.
	if st := get("alice", auUsers["alice"]); st != 200 {
		t.Errorf("alice after bob's change: %d", st)
	}
	auSetPassword(t, ht, "dave", "dave-Secret-4")
	deadline = time.Now().Add(5 * time.Second)
	for get("dave", "dave-Secret-4") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("new user not accepted after 5s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	// A broken file keeps the last good users (and the log says why).
	if err := os.WriteFile(ht, []byte("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if st := get("bob", newPass); st != 200 {
		t.Errorf("after the file was broken, bob's last good password: %d, want 200", st)
	}
	// The server's output reaches s.Log through a pipe, a moment after
	// the response: wait for the line rather than race it.
	logDeadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Log.String(), "htpasswd reload failed") && time.Now().Before(logDeadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(s.Log.String(), "htpasswd reload failed") {
		t.Errorf("the log does not mention the broken htpasswd file")
	}
	if strings.Contains(s.Log.String(), newPass) {
		t.Errorf("log contains the new password")
	}
}

// TestAuthHtpasswdNonBcrypt: an entry that is not bcrypt stops `wharf
// serve` with exit status 1 and a message naming the line.
func TestAuthHtpasswdNonBcrypt(t *testing.T) {
	good := func() string {
		p := auHtpasswd(t, map[string]string{"alice": auUsers["alice"]})
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}()
	for _, tc := range []struct {
		name, content, line string
	}{
		{"SHA1", good + "\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "line 2"},
		{"apr1", "# users\n" + good + "\ncarol:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", "line 3"},
		{"plain", "dave:secret\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ht := auWrite(t, "htpasswd", []byte(tc.content))
			root := t.TempDir()
			cfg := auWrite(t, "config.yml", []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
auth:
  htpasswd:
    realm: wharf
    path: %s
`, root, freeAddr(t), ht)))
			code, out := auRunServeFails(t, cfg)
			if code != 1 {
				t.Errorf("wharf serve exit %d, want 1; output:\n%s", code, out)
			}
			if !strings.Contains(out, tc.line) || !strings.Contains(out, ht) {
				t.Errorf("output does not name %s of %s:\n%s", tc.line, ht, out)
			}
			if strings.Contains(out, "W6ph5Mm5Pz8GgiULbPgzG37mj9g") || strings.Contains(out, "HqJZimcKQFAMYayBlzkrA") {
				t.Errorf("output shows the password hash:\n%s", out)
			}
		})
	}
}

// TestAuthThrottle: 10 failed logins for one user from one address get
// that pair 429 with Retry-After, while a good user elsewhere is
// unaffected; 30 for one user (from many addresses) block the user.
// TestAuthThrottleSharedAddress covers the other users of the address.
func TestAuthThrottle(t *testing.T) {
	s, _ := auBasicServer(t, auPolicy)
	attacker := auClientFrom("127.0.0.2")
	get := func(c *http.Client, user, pass string) whResp {
		return auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/", User: user, Pass: pass, Client: c})
	}
	for i := 1; i <= 10; i++ {
		if r := get(attacker, "bob", auWrongPass); r.Status != 401 {
			t.Fatalf("bad password %d from 127.0.0.2: %s, want 401", i, r)
		}
	}
	r := get(attacker, "bob", auWrongPass)
	if r.Status != 429 || auErrorCode(r) != "TOOMANYREQUESTS" {
		t.Fatalf("11th bad password from 127.0.0.2: %s, want 429 TOOMANYREQUESTS", r)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	// The blocked pair is blocked for bob's good (never verified) password
	// too: checking it would tell a guesser it is right.
	if r := get(attacker, "bob", auUsers["bob"]); r.Status != 429 {
		t.Errorf("bob's password from the blocked address: %s, want 429", r)
	}
	// Another address is not.
	if r := get(auClientFrom("127.0.0.3"), "alice", auUsers["alice"]); r.Status != 200 {
		t.Errorf("alice from 127.0.0.3: %s, want 200", r)
	}
	// Anonymous requests from the blocked address still get their 401
	// challenge and public pulls (no password is checked).
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/", Client: attacker}); r.Status != 401 {
		t.Errorf("anonymous from the blocked address: %s, want 401", r)
	}

	// Per user: 30 failures for carol from 30 addresses.
	for i := 1; i <= 30; i++ {
		if r := get(auClientFrom(fmt.Sprintf("127.0.5.%d", i)), "carol", auWrongPass); r.Status != 401 {
			t.Fatalf("bad password %d for carol: %s, want 401", i, r)
		}
	}
	fresh := auClientFrom("127.0.0.4")
	if r := get(fresh, "carol", auUsers["carol"]); r.Status != 429 {
		t.Errorf("carol (30 failures) with her password from a fresh address: %s, want 429", r)
	}
	if r := get(fresh, "bob", auUsers["bob"]); r.Status != 200 {
		t.Errorf("bob from the same fresh address: %s, want 200", r)
	}
	auCheckLog(t, s)
}

// TestAuthThrottleTokenEndpoint: the token endpoint counts failures too.
func TestAuthThrottleTokenEndpoint(t *testing.T) {
	s, _ := auTokenServer(t, auPolicy)
	attacker := auClientFrom("127.0.0.2")
	q := "/auth/token?service=wharf&scope=repository:bob/app:pull"
	for i := 1; i <= 10; i++ {
		if r := auDo(t, auReq{Method: "GET", URL: s.URL + q, User: "bob", Pass: auWrongPass, Client: attacker}); r.Status != 401 {
			t.Fatalf("bad password %d: %s", i, r)
		}
	}
	r := auDo(t, auReq{Method: "GET", URL: s.URL + q, User: "bob", Pass: auWrongPass, Client: attacker})
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("11th bad password at the token endpoint: %s (Retry-After %q), want 429 with Retry-After", r, r.Header.Get("Retry-After"))
	}
	form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {auUsers["bob"]}, "service": {"wharf"}}
	r = auDo(t, auReq{Method: "POST", URL: s.URL + "/auth/token", Client: attacker, Body: []byte(form.Encode()),
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if r.Status != 429 {
		t.Errorf("POST password grant for bob from the blocked address: %s, want 429", r)
	}
	r = auDo(t, auReq{Method: "GET", URL: s.URL + q, User: "alice", Pass: auUsers["alice"], Client: auClientFrom("127.0.0.3")})
	if r.Status != 200 {
		t.Errorf("alice from 127.0.0.3: %s, want 200", r)
	}
}

// TestAuthUnknownUserLooksLikeWrongPassword: same status, body and
// challenge, at /v2/ and at the token endpoint.
func TestAuthUnknownUserLooksLikeWrongPassword(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			paths := []string{"/v2/", "/v2/bob/app/manifests/latest", "/v2/library/pub/tags/list"}
			if mode == "token" {
				paths = append(paths, "/auth/token?service=wharf&scope=repository:bob/app:pull")
			}
			for _, p := range paths {
				a := auDo(t, auReq{Method: "GET", URL: s.URL + p, User: "nosuchuser", Pass: auWrongPass, Client: auClientFrom("127.0.0.5")})
				b := auDo(t, auReq{Method: "GET", URL: s.URL + p, User: "bob", Pass: auWrongPass, Client: auClientFrom("127.0.0.6")})
				if a.Status != 401 || a.Status != b.Status || !bytes.Equal(a.Body, b.Body) ||
					a.Header.Get("WWW-Authenticate") != b.Header.Get("WWW-Authenticate") {
					t.Errorf("%s %s: no such user %d %q %q; wrong password %d %q %q",
						mode, p, a.Status, a.Body, a.Header.Get("WWW-Authenticate"), b.Status, b.Body, b.Header.Get("WWW-Authenticate"))
				}
			}
			// Timing is not asserted here (tests never assert durations):
			// Htpasswd.Verify compares an unknown user's password against a
			// dummy bcrypt hash, so both cases pay the same bcrypt cost.
		})
	}
}

// TestAuthTokenInsufficientScope: a valid token that lacks a scope the
// caller's policy would grant is answered 401 with a Bearer challenge
// (error="insufficient_scope", the scope needed), as the Docker token spec
// and distribution do: clients (docker, containerd, the conformance suite)
// fetch a new token only on 401. Only what the policy refuses is 403.
func TestAuthTokenInsufficientScope(t *testing.T) {
	s, _ := auTokenServer(t, auPolicy)
	auSeed(t, s)
	_, tr := auGetToken(t, s, "bob", auUsers["bob"], "repository:bob/app:pull")
	pullOnly := tr.Token
	for _, tc := range []struct {
		what, method, path string
		status             int
		scope              string // in the challenge when 401
	}{
		{"push to own repo with a pull token", "POST", "/v2/bob/app/blobs/uploads/", 401, "repository:bob/app:push"},
		{"delete in own repo with a pull token", "DELETE", "/v2/bob/app/manifests/" + auZeroDigest, 401, "repository:bob/app:delete"},
		{"pull another allowed repo", "GET", "/v2/team/app/tags/list", 401, "repository:team/app:pull"},
		{"pull a public repo", "GET", "/v2/library/pub/tags/list", 401, "repository:library/pub:pull"},
		{"push where the policy refuses", "POST", "/v2/carol/app/blobs/uploads/", 403, ""},
		{"pull where the policy refuses", "GET", "/v2/secret/app/tags/list", 403, ""},
		{"pull with the token's scope", "GET", "/v2/bob/app/tags/list", 200, ""},
	} {
		r := auDo(t, auReq{Method: tc.method, URL: s.URL + tc.path, Token: pullOnly, Header: map[string]string{"Content-Length": "0"}})
		if r.Status != tc.status {
			t.Errorf("%s: %s, want %d", tc.what, r, tc.status)
			continue
		}
		if tc.status == 401 {
			ch := r.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, tc.scope) {
				t.Errorf("%s: challenge %q, want Bearer with error=\"insufficient_scope\" and %s", tc.what, ch, tc.scope)
			}
		}
	}
	// A mount from a repository bob may pull, with a token that covers only
	// the target: re-challenged for the source (distribution asks for
	// repository:<from>:pull on a mount) rather than silently not mounted.
	_, tr = auGetToken(t, s, "bob", auUsers["bob"], "repository:bob/app:pull,push")
	r := auDo(t, auReq{Method: "POST", URL: s.URL + "/v2/bob/app/blobs/uploads/?mount=" + auZeroDigest + "&from=team/app",
		Token: tr.Token, Header: map[string]string{"Content-Length": "0"}})
	if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "repository:team/app:pull") {
		t.Errorf("mount from team/app with a token for bob/app only: %s, WWW-Authenticate %q; want 401 asking for repository:team/app:pull",
			r, r.Header.Get("WWW-Authenticate"))
	}
	// Anonymous: the first challenge of a mount names both scopes.
	r = auDo(t, auReq{Method: "POST", URL: s.URL + "/v2/bob/app/blobs/uploads/?mount=" + auZeroDigest + "&from=team/app",
		Header: map[string]string{"Content-Length": "0"}})
	if ch := r.Header.Get("WWW-Authenticate"); r.Status != 401 || !strings.Contains(ch, "repository:bob/app:push") || !strings.Contains(ch, "repository:team/app:pull") {
		t.Errorf("anonymous mount: %s, WWW-Authenticate %q; want 401 naming repository:bob/app:push and repository:team/app:pull", r, ch)
	}
}

// --- external token server ---

// auExtClaims are the claims an external token server (docker_auth,
// Harbor, GitLab) puts in a registry token.
type auExtClaims struct {
	jwt.RegisteredClaims
	Access []auScope `json:"access"`
}

func auExtToken(t testing.TB, key crypto.Signer, hdr map[string]any, iss, aud, sub string, exp time.Time, access ...auScope) string {
	t.Helper()
	c := auExtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
			IssuedAt: jwt.NewNumericDate(time.Now()), ID: fmt.Sprintf("jti-%d", time.Now().UnixNano()),
		},
		Access: access,
	}
	if access == nil {
		c.Access = []auScope{}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthExternalToken: tokens of an external token server, signed by a
// key whose certificate chains to rootcertbundle (x5c header) or whose
// libtrust key id names a certificate of the bundle, are honoured with
// exactly the access they carry; expired, foreign-issuer, other-audience
// and unknown-key tokens are refused with 401.
func TestAuthExternalToken(t *testing.T) {
	ca := auNewCA(t, "token CA")
	signer := ca.Issue(t, "token signer", nil) // leaf: carried in x5c
	// A second certificate in the bundle, whose key signs tokens by kid.
	kidCA := auNewCA(t, "kid signer")
	bundle := auWrite(t, "bundle.pem", append(append([]byte{}, ca.CertPEM...), kidCA.CertPEM...))
	kid, err := auth.KeyID(kidCA.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	const iss, aud = "test-issuer", "wharf-ext"
	s := auServe(t, auServerConfig{Extra: fmt.Sprintf(`auth:
  token:
    realm: https://auth.example.test/token
    service: %s
    issuer: %s
    rootcertbundle: %s
%s`, aud, iss, bundle, auPolicy)})

	// Anonymous: challenged towards the external realm.
	r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/"})
	if want := `Bearer realm="https://auth.example.test/token",service="wharf-ext"`; r.Status != 401 || r.Header.Get("WWW-Authenticate") != want {
		t.Errorf("anonymous /v2/: %s, WWW-Authenticate %q, want 401 %s", r, r.Header.Get("WWW-Authenticate"), want)
	}
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/auth/token"}); r.Status != 404 {
		t.Errorf("the built-in token endpoint answers in external mode: %s", r)
	}

	x5c := []string{base64.StdEncoding.EncodeToString(signer.Cert.Raw)}
	all := auScope{Type: "repository", Name: "ext/app", Actions: []string{"pull", "push", "delete"}}
	exp := time.Now().Add(10 * time.Minute)
	byChain := auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, iss, aud, "robot", exp, all)
	byKid := auExtToken(t, kidCA.Key, map[string]any{"kid": kid}, iss, aud, "robot", exp, all,
		auScope{Type: "repository", Name: "library/pub", Actions: []string{"pull", "push"}})

	// Push with one token, pull with the other (ggcr uses a registry token
	// as is, without asking the realm).
	img := whRandomImage(t, 1024, 2)
	ref := whRef(t, s, "ext/app:v1")
	withToken := func(tok string) []remote.Option {
		return whRemote(t, remote.WithAuth(authn.FromConfig(authn.AuthConfig{RegistryToken: tok})))
	}
	if err := remote.Write(ref, img, withToken(byChain)...); err != nil {
		t.Fatalf("push with an x5c token: %v\nserver log:\n%s", err, confTail(s.Log.String(), 3000))
	}
	if err := auVerifyPull(t, ref, img, withToken(byKid)...); err != nil {
		t.Errorf("pull with a kid token: %v", err)
	}
	img2 := whRandomImage(t, 512, 1)
	if err := remote.Write(whRef(t, s, "library/pub:v1"), img2, withToken(byKid)...); err != nil {
		t.Errorf("push to library/pub with a kid token granting push: %v", err)
	}
	// Anonymous pull of a public repository, without any token (ggcr would
	// first ask the external realm, which does not exist here).
	m2, _ := img2.RawManifest()
	mt, _ := img2.MediaType()
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/library/pub/manifests/v1", Header: map[string]string{"Accept": string(mt)}}); r.Status != 200 || !bytes.Equal(r.Body, m2) {
		t.Errorf("anonymous pull of a public repository in external mode: %s", r)
	}
	if r := auDo(t, auReq{Method: "GET", URL: s.URL + "/v2/ext/app/manifests/v1"}); r.Status != 401 {
		t.Errorf("anonymous pull of ext/app: %s, want 401", r)
	}

	// Exactly the access the token carries.
	pullOnly := auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, iss, aud, "robot", exp,
		auScope{Type: "repository", Name: "ext/app", Actions: []string{"pull"}})
	get := func(method, path, tok string) whResp {
		return auDo(t, auReq{Method: method, URL: s.URL + path, Token: tok, Header: map[string]string{"Content-Length": "0"}})
	}
	if r := get("GET", "/v2/ext/app/tags/list", pullOnly); r.Status != 200 {
		t.Errorf("pull with a pull token: %s", r)
	}
	if r := get("POST", "/v2/ext/app/blobs/uploads/", pullOnly); r.Status != 403 && r.Status != 401 {
		t.Errorf("push with a pull token: %s, want refused", r)
	}
	if r := get("GET", "/v2/other/app/tags/list", byChain); r.Status != 403 && r.Status != 401 {
		t.Errorf("pull of a repository the token does not name: %s, want refused", r)
	}
	// The catalog needs the token's registry:catalog:* grant.
	if r := get("GET", "/v2/_catalog", byChain); r.Status != 403 && r.Status != 401 {
		t.Errorf("catalog without a catalog grant: %s, want refused", r)
	}
	cat := auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, iss, aud, "robot", exp,
		auScope{Type: "registry", Name: "catalog", Actions: []string{"*"}})
	if r := get("GET", "/v2/_catalog", cat); r.Status != 200 || !strings.Contains(string(r.Body), `"ext/app"`) || !strings.Contains(string(r.Body), `"library/pub"`) {
		t.Errorf("catalog with a catalog grant: %s", r)
	}

	// Rejections: 401 with an invalid_token challenge.
	rogueCA := auNewCA(t, "rogue CA")
	rogue := rogueCA.Issue(t, "rogue signer", nil)
	rogueKid, _ := auth.KeyID(rogue.Key.Public())
	signerKid, _ := auth.KeyID(signer.Key.Public())
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"expired", auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, iss, aud, "robot", time.Now().Add(-5*time.Minute), all)},
		{"wrong issuer", auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, "evil-issuer", aud, "robot", exp, all)},
		{"wrong audience", auExtToken(t, signer.Key, map[string]any{"x5c": x5c}, iss, "other-service", "robot", exp, all)},
		{"unknown key (chain to another CA)", auExtToken(t, rogue.Key, map[string]any{"x5c": []string{
			base64.StdEncoding.EncodeToString(rogue.Cert.Raw), base64.StdEncoding.EncodeToString(rogueCA.Cert.Raw)}}, iss, aud, "robot", exp, all)},
		{"unknown kid", auExtToken(t, rogue.Key, map[string]any{"kid": rogueKid}, iss, aud, "robot", exp, all)},
		{"leaf kid without x5c (not in the bundle)", auExtToken(t, signer.Key, map[string]any{"kid": signerKid}, iss, aud, "robot", exp, all)},
		{"trusted x5c, other key's signature", auExtToken(t, rogue.Key, map[string]any{"x5c": x5c}, iss, aud, "robot", exp, all)},
		{"bundle kid, other key's signature", auExtToken(t, rogue.Key, map[string]any{"kid": kid}, iss, aud, "robot", exp, all)},
		{"no kid, no x5c, two keys in the bundle", auExtToken(t, kidCA.Key, nil, iss, aud, "robot", exp, all)},
		{"garbage", "abc.def.ghi"},
	} {
		r := get("GET", "/v2/ext/app/tags/list", tc.tok)
		ch := r.Header.Get("WWW-Authenticate")
		if r.Status != 401 || !strings.HasPrefix(ch, `Bearer realm="https://auth.example.test/token"`) || !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s: %s, WWW-Authenticate %q; want 401 with an invalid_token challenge", tc.name, r, ch)
		}
	}
	auCheckLog(t, s, byChain, byKid, pullOnly, cat)
}

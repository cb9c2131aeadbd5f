package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mode is how clients authenticate.
type Mode int

// Modes.
const (
	ModeNone          Mode = iota // no auth: everyone may do everything
	ModeBasic                     // htpasswd users with HTTP basic auth
	ModeTokenServer               // wharf's own token server over htpasswd users
	ModeExternalToken             // tokens from an external token server
)

// Throttle limits for failed logins, per window. Credentials verified
// before (Htpasswd.Verified) pass every throttle: only guesses are
// limited, so no one else's failures refuse them. A pair (address, user)
// is throttled first and hardest, so one client's mistyped secret costs
// the other users behind its address nothing; the address limit is higher,
// for clients spraying many names; the user limit is for guesses at one
// name from many addresses. A never-verified password is refused while any
// of its three keys is throttled, right or not: checking it would give a
// guesser the answer.
const (
	failuresPerAddrUser = 10
	failuresPerAddr     = 30
	failuresPerUser     = 30
	failureWindow       = time.Minute
)

// Guard authenticates requests and checks them against what they need.
type Guard struct {
	Mode       Mode
	BasicRealm string
	// TokenRealm is the token endpoint announced in Bearer challenges;
	// empty: derived from the request (scheme, host, /auth/token).
	TokenRealm string
	Service    string
	Htpasswd   *Htpasswd
	Signer     *Signer
	Verifier   *Verifier
	Policy     *Policy
	Log        *slog.Logger

	once         sync.Once
	pairThrottle *Throttle
	addrThrottle *Throttle
	userThrottle *Throttle
}

// TokenPath is where wharf's token server answers.
const TokenPath = "/auth/token"

// Init prepares the throttles and the default policy once; every entry
// point calls it too, so a Guard whose Init was forgotten still works
// (and still throttles) instead of panicking.
func (g *Guard) Init() {
	g.once.Do(func() {
		g.pairThrottle = NewThrottle(failuresPerAddrUser, failureWindow)
		g.addrThrottle = NewThrottle(failuresPerAddr, failureWindow)
		g.userThrottle = NewThrottle(failuresPerUser, failureWindow)
		if g.Policy == nil {
			g.Policy = &Policy{Open: true}
		}
	})
}

// Denied is a refused request: 401 with a challenge, 403 DENIED or 429.
type Denied struct {
	Status     int
	Code       string
	Message    string
	Challenge  string
	RetryAfter time.Duration
}

func (d *Denied) Error() string { return d.Code + ": " + d.Message }

// Decision is what an authorized request may do.
type Decision struct {
	Identity Identity
	scopes   []Scope // granted by a token; nil: decided by the policy
	policy   *Policy
	all      bool // no auth configured
}

// Allows reports whether the request may take action on a resource: what
// its token grants, or with no token what the policy allows its caller.
func (d *Decision) Allows(typ, name, action string) bool {
	if d.all {
		return true
	}
	if d.scopes != nil {
		for _, s := range d.scopes {
			if s.Type == typ && s.Name == name && (slices.Contains(s.Actions, action) || slices.Contains(s.Actions, ActionAll)) {
				return true
			}
		}
		return false
	}
	if typ == "registry" {
		return name == "catalog" && d.policy.CanCatalog(d.Identity)
	}
	return slices.Contains(d.policy.Allowed(d.Identity, name), action)
}

// CanSee reports whether a repository appears in the caller's catalog: all
// of them with the catalog scope, else those the caller may pull. A token
// of wharf's own names a user the policy knows, so the view follows the
// policy rather than the few repositories the token happens to carry.
func (d *Decision) CanSee(repo string) bool {
	if d.Allows("registry", "catalog", ActionAll) {
		return true
	}
	if d.scopes != nil && d.policy != nil {
		return slices.Contains(d.policy.Allowed(d.Identity, repo), ActionPull)
	}
	return d.Allows("repository", repo, ActionPull)
}

// VisiblePatterns returns globs whose union is what CanSee accepts, so that
// a search or listing filters in its database query. Never nil.
func (d *Decision) VisiblePatterns() []string {
	if d.SeesAll() {
		return []string{"*"}
	}
	if d.policy != nil {
		return d.policy.PullPatterns(d.Identity)
	}
	// Decided by a token alone: the repositories it grants pull on. A name
	// with '*' is no repository name, and would be read as a glob.
	out := []string{}
	for _, s := range d.scopes {
		if s.Type == "repository" && !strings.Contains(s.Name, "*") &&
			(slices.Contains(s.Actions, ActionPull) || slices.Contains(s.Actions, ActionAll)) {
			out = append(out, s.Name)
		}
	}
	return out
}

// FiltersCatalog reports whether the caller's catalog must be filtered.
func (d *Decision) FiltersCatalog() bool {
	return !d.SeesAll()
}

// SeesAll reports whether the caller may see every repository: no auth, a
// token with the catalog scope, or a user the policy lets see everything.
func (d *Decision) SeesAll() bool {
	if d.Allows("registry", "catalog", ActionAll) {
		return true
	}
	return d.scopes != nil && d.policy != nil && d.policy.CanCatalog(d.Identity)
}

// Authorize authenticates r and checks it may take every action in need.
// requireLogin refuses anonymous callers even when need is empty (GET /v2/,
// which clients use to learn whether and how to log in). optional scopes
// are not required but named in challenges, so the token a client fetches
// covers them too (the source of a cross-repository mount).
func (g *Guard) Authorize(r *http.Request, need []Scope, requireLogin bool, optional ...Scope) (*Decision, error) {
	if g == nil || g.Mode == ModeNone {
		return &Decision{all: true}, nil
	}
	g.Init()
	d, err := g.authenticate(r)
	if err != nil {
		return nil, err
	}
	ask := append(slices.Clip(need), optional...)
	if d.Identity.Anonymous && requireLogin {
		return nil, g.challenge(r, ask, "authentication required", "")
	}
	var missing []Scope
	for _, sc := range need {
		for _, a := range sc.Actions {
			if !d.Allows(sc.Type, sc.Name, a) {
				missing = append(missing, sc)
				break
			}
		}
	}
	if len(missing) == 0 {
		return d, nil
	}
	if d.Identity.Anonymous || g.tokenCouldCover(d, missing) {
		return nil, g.challenge(r, ask, "authentication required", "insufficient_scope")
	}
	// The same answer whether or not the repository exists: what a caller
	// may not pull, it may not learn about either.
	return nil, &Denied{Status: http.StatusForbidden, Code: "DENIED",
		Message: fmt.Sprintf("requested access to %s is denied", missing[0])}
}

// tokenCouldCover reports whether a token-bearing caller lacks scopes a new
// token would grant: then the answer is 401 insufficient_scope, on which
// clients fetch a token for the scopes named in the challenge (a 403 would
// end their attempt). An external server's policy is unknown here, so its
// tokens always get the chance.
func (g *Guard) tokenCouldCover(d *Decision, missing []Scope) bool {
	if d.scopes == nil {
		return false
	}
	if g.Mode == ModeExternalToken {
		return true
	}
	for _, sc := range missing {
		if len(g.Policy.Grant(d.Identity, []Scope{sc})) == 0 {
			return false
		}
		if got := g.Policy.Grant(d.Identity, []Scope{sc})[0]; len(got.Actions) < len(sc.Actions) {
			return false
		}
	}
	return true
}

// WantScope asks a token-bearing caller for an optional extra scope the
// policy would grant it (the source repository of a cross-repository
// mount): a 401 challenge naming need plus extra, or nil when the caller
// already has it or could not get it.
func (g *Guard) WantScope(r *http.Request, d *Decision, need []Scope, extra Scope) error {
	if g == nil || d == nil || d.scopes == nil {
		return nil
	}
	g.Init()
	for _, a := range extra.Actions {
		if !d.Allows(extra.Type, extra.Name, a) {
			if g.Mode == ModeTokenServer && g.tokenCouldCover(d, []Scope{extra}) {
				return g.challenge(r, append(need, extra), "the token does not cover "+extra.String(), "insufficient_scope")
			}
			return nil
		}
	}
	return nil
}

// authenticate finds who is asking: basic credentials, a bearer token, or
// nobody (anonymous).
func (g *Guard) authenticate(r *http.Request) (*Decision, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return &Decision{Identity: Identity{Anonymous: true}, policy: g.Policy}, nil
	case strings.EqualFold(scheme, "basic") && g.Htpasswd != nil:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, g.challenge(r, nil, "malformed basic credentials", "invalid_request")
		}
		if err := g.CheckPassword(r, user, pass); err != nil {
			return nil, err
		}
		return &Decision{Identity: Identity{User: user}, policy: g.Policy}, nil
	case strings.EqualFold(scheme, "bearer") && g.Verifier != nil:
		c, err := g.Verifier.Verify(strings.TrimSpace(cred))
		if err != nil || c.Refresh {
			return nil, g.challenge(r, nil, "invalid or expired token", "invalid_token")
		}
		id := Identity{User: c.Subject, Anonymous: c.Subject == ""}
		d := &Decision{Identity: id, scopes: c.Access}
		if d.scopes == nil {
			d.scopes = []Scope{}
		}
		if g.Mode == ModeTokenServer {
			// wharf's own tokens name a user of this registry: the policy
			// may grant more than the token carries (the catalog view).
			d.policy = g.Policy
		}
		return d, nil
	}
	return nil, g.challenge(r, nil, "unsupported authorization scheme", "invalid_request")
}

// CheckPassword verifies htpasswd credentials. Credentials verified before
// and unchanged pass at once; any other attempt is throttled per address
// and user, per address and per user (see failuresPerAddrUser). Wrong user
// and wrong password look alike.
func (g *Guard) CheckPassword(r *http.Request, user, pass string) error {
	g.Init()
	if g.Htpasswd == nil {
		return g.challenge(r, nil, "invalid username or password", "invalid_token")
	}
	verified, reloadErr := g.Htpasswd.Verified(user, pass)
	g.logReload(reloadErr)
	if verified {
		return nil
	}
	addr := clientAddr(r)
	keys := g.throttleKeys(addr, user)
	for _, k := range keys {
		if left, blocked := k.th.Blocked(k.key); blocked {
			return &Denied{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS",
				Message: "too many failed logins; try again later", RetryAfter: left}
		}
	}
	ok, reloadErr := g.Htpasswd.Verify(user, pass)
	g.logReload(reloadErr)
	if !ok {
		for _, k := range keys {
			k.th.Fail(k.key)
		}
		if g.Log != nil {
			g.Log.Warn("failed login", "user", user, "remote", addr)
		}
		return g.challenge(r, nil, "invalid username or password", "invalid_token")
	}
	return nil
}

// throttleKey is one count a failed login adds to.
type throttleKey struct {
	th  *Throttle
	key string
}

// throttleKeys are the counts of a login by user from addr. An address
// holds no space, so the pair's key is unambiguous.
func (g *Guard) throttleKeys(addr, user string) []throttleKey {
	return []throttleKey{
		{g.pairThrottle, addr + " " + user},
		{g.addrThrottle, addr},
		{g.userThrottle, user},
	}
}

func (g *Guard) logReload(err error) {
	if err != nil && g.Log != nil {
		g.Log.Warn("htpasswd reload failed; using the last good file", "err", err)
	}
}

// clientAddr is the connection's remote IP. Forwarded headers are not
// trusted: a client could set them to dodge throttling.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// challenge is a 401 telling the client how to authenticate.
func (g *Guard) challenge(r *http.Request, need []Scope, msg, errCode string) *Denied {
	d := &Denied{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: msg}
	switch g.Mode {
	case ModeBasic:
		d.Challenge = fmt.Sprintf("Basic realm=%q", g.BasicRealm)
	case ModeTokenServer, ModeExternalToken:
		parts := []string{fmt.Sprintf("realm=%q", g.tokenRealm(r)), fmt.Sprintf("service=%q", g.Service)}
		if len(need) > 0 {
			scopes := make([]string, len(need))
			for i, s := range need {
				scopes[i] = s.String()
			}
			parts = append(parts, fmt.Sprintf("scope=%q", strings.Join(scopes, " ")))
		}
		if errCode != "" && r.Header.Get("Authorization") != "" {
			parts = append(parts, fmt.Sprintf("error=%q", errCode))
		}
		d.Challenge = "Bearer " + strings.Join(parts, ",")
	}
	return d
}

func (g *Guard) tokenRealm(r *http.Request) string {
	if g.TokenRealm != "" {
		return g.TokenRealm
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + TokenPath
}

// AsDenied returns the *Denied inside err.
func AsDenied(err error) (*Denied, bool) {
	var d *Denied
	ok := errors.As(err, &d)
	return d, ok
}

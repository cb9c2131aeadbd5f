package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TokenHandler is wharf's token endpoint (Docker token authentication):
// GET with optional basic credentials and scope/service parameters, and
// the OAuth2 POST form (grant_type password or refresh_token) that docker
// and containerd use.
type TokenHandler struct {
	Guard *Guard
}

type tokenResponse struct {
	Token        string `json:"token,omitempty"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// ServeHTTP implements http.Handler.
func (t *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	t.Guard.Init()
	switch r.Method {
	case http.MethodGet:
		t.get(w, r)
	case http.MethodPost:
		t.post(w, r)
	default:
		writeAuthError(w, &Denied{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "use GET or POST"})
	}
}

// get answers GET /auth/token?service=&scope=&offline_token=.
func (t *TokenHandler) get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := t.checkService(q.Get("service")); err != nil {
		writeAuthError(w, err)
		return
	}
	id := Identity{Anonymous: true}
	if _, _, ok := r.BasicAuth(); ok {
		user, pass, _ := r.BasicAuth()
		if err := t.Guard.CheckPassword(r, user, pass); err != nil {
			writeAuthError(w, t.basicChallenge(err))
			return
		}
		id = Identity{User: user}
	} else if r.Header.Get("Authorization") != "" {
		writeAuthError(w, t.Guard.challenge(r, nil, "token requests take basic credentials", "invalid_request"))
		return
	}
	offline := q.Get("offline_token") == "true" && !id.Anonymous
	t.issue(w, id, parseScopes(q["scope"]), offline, false)
}

// post answers the OAuth2 form: grant_type=password or refresh_token.
func (t *TokenHandler) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeAuthError(w, &Denied{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "malformed form"})
		return
	}
	f := r.PostForm
	if err := t.checkService(f.Get("service")); err != nil {
		writeAuthError(w, err)
		return
	}
	var id Identity
	switch f.Get("grant_type") {
	case "password":
		user := f.Get("username")
		if err := t.Guard.CheckPassword(r, user, f.Get("password")); err != nil {
			writeAuthError(w, err)
			return
		}
		id = Identity{User: user}
	case "refresh_token":
		c, err := t.Guard.Verifier.Verify(f.Get("refresh_token"))
		if err != nil || !c.Refresh || c.Subject == "" || !t.Guard.Htpasswd.Exists(c.Subject) {
			writeAuthError(w, &Denied{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "invalid or expired refresh token"})
			return
		}
		id = Identity{User: c.Subject}
	default:
		writeAuthError(w, &Denied{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "grant_type must be password or refresh_token"})
		return
	}
	offline := f.Get("access_type") == "offline" || f.Get("grant_type") == "refresh_token"
	t.issue(w, id, parseScopes(f["scope"]), offline, true)
}

// basicChallenge points a client that failed to log in at basic auth, the
// scheme the token endpoint takes.
func (t *TokenHandler) basicChallenge(err error) error {
	if d, ok := AsDenied(err); ok && d.Status == http.StatusUnauthorized {
		d.Challenge = fmt.Sprintf("Basic realm=%q", t.Guard.BasicRealm)
	}
	return err
}

func (t *TokenHandler) checkService(service string) error {
	if service != "" && !constantTimeEqual(service, t.Guard.Service) {
		return &Denied{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "unknown service " + strconv.Quote(service)}
	}
	return nil
}

// issue grants what the policy allows of the asked scopes, never more.
func (t *TokenHandler) issue(w http.ResponseWriter, id Identity, want []Scope, offline, oauth bool) {
	granted := t.Guard.Policy.Grant(id, want)
	tok, ttl, err := t.Guard.Signer.Issue(id.User, granted)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	resp := tokenResponse{AccessToken: tok, ExpiresIn: int(ttl / time.Second), IssuedAt: time.Now().UTC().Format(time.RFC3339)}
	if oauth {
		resp.TokenType = "Bearer"
		scopes := make([]string, len(granted))
		for i, s := range granted {
			scopes[i] = s.String()
		}
		resp.Scope = strings.Join(scopes, " ")
	} else {
		resp.Token = tok
	}
	if offline {
		if resp.RefreshToken, err = t.Guard.Signer.IssueRefresh(id.User); err != nil {
			writeAuthError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// parseScopes reads scope parameters; one parameter may hold several
// scopes separated by spaces.
func parseScopes(params []string) []Scope {
	var out []Scope
	for _, p := range params {
		for _, s := range strings.Fields(p) {
			if sc, ok := ParseScope(s); ok {
				out = append(out, sc)
			}
		}
	}
	return out
}

// writeAuthError answers with an OCI-style error body.
func writeAuthError(w http.ResponseWriter, err error) {
	d, ok := AsDenied(err)
	if !ok {
		d = &Denied{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "internal error issuing token"}
	}
	WriteDenied(w, d)
}

// WriteDenied writes the response for a refused request.
func WriteDenied(w http.ResponseWriter, d *Denied) {
	if d.Challenge != "" {
		w.Header().Set("WWW-Authenticate", d.Challenge)
	}
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds()+0.999)))
	}
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": d.Code, "message": d.Message}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.Status)
	w.Write(body)
}

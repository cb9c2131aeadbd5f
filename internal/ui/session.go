package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-registry/wharf/internal/auth"
)

// Cookie names.
const (
	sessionCookie = "wharf_session"
	csrfCookie    = "wharf_csrf"
	csrfField     = "csrf"
)

// visitor is who is asking and what they may do.
type visitor struct {
	// user is the logged-in user, empty for an anonymous visitor.
	user     string
	decision *auth.Decision
	// csrf is the token forms that change state carry.
	csrf string
}

// canPull reports whether the visitor may see repository name: the same
// rule as a pull through the API.
func (v *visitor) canPull(name string) bool {
	return v.decision.Allows("repository", name, auth.ActionPull)
}

// canDelete reports whether the visitor may delete in repository name.
func (v *visitor) canDelete(name string) bool {
	return v.decision.Allows("repository", name, auth.ActionDelete)
}

// visitor reads the session cookie and hands out the CSRF cookie: a
// random value, with the forms' token its MAC bound to the user, so that
// neither a cookie planted by another site nor a token seen by one user
// serves anyone else.
func (h *Handler) visitor(w http.ResponseWriter, r *http.Request) *visitor {
	v := &visitor{user: h.sessionUser(r)}
	id := auth.Identity{User: v.user, Anonymous: v.user == ""}
	v.decision = h.opts.Guard.DecisionFor(id)
	seed := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		seed = c.Value
	} else {
		seed = randomHex(16)
		h.setCookie(w, r, csrfCookie, seed, 0)
		// The request carries the old (or no) cookie: its form cannot
		// match, which is right, and the page now sent carries the new.
	}
	v.csrf = h.mac("csrf", seed, v.user)
	return v
}

// checkCSRF accepts a state-changing request only with the form token
// that matches its CSRF cookie and user, and never from another site.
func (h *Handler) checkCSRF(r *http.Request, v *visitor) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errCSRF
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return errCSRF
	}
	want := h.mac("csrf", c.Value, v.user)
	if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(want)) {
		return errCSRF
	}
	return nil
}

// session is what a session cookie carries: until when it is valid, its
// user and its own id (what a logout revokes).
type session struct {
	until int64
	user  string
	id    string
}

// sessionUser returns the user of a valid, unexpired, not logged-out
// session cookie made for the user's present htpasswd entry, else "".
func (h *Handler) sessionUser(r *http.Request) string {
	s, ok := h.readSession(r)
	if !ok {
		return ""
	}
	revoked, err := h.opts.Sessions.SessionRevoked(r.Context(), s.id)
	if err != nil {
		// Unsure whether it ended: treat the visitor as anonymous rather
		// than let a logged-out cookie through.
		h.log.WarnContext(r.Context(), "ui: session revocation unreadable", "error", err)
		return ""
	}
	if revoked {
		return ""
	}
	return s.user
}

// readSession parses and verifies the session cookie: its MAC, its expiry,
// and that it was made for the user's present htpasswd entry.
func (h *Handler) readSession(r *http.Request) (session, bool) {
	if !h.opts.Guard.PasswordLogins() {
		return session{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	body, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return session{}, false
	}
	fields := strings.Split(string(raw), "|")
	if len(fields) != 3 {
		return session{}, false
	}
	until, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || time.Now().Unix() >= until {
		return session{}, false
	}
	s := session{until: until, user: fields[1], id: fields[2]}
	// The MAC covers the user's htpasswd entry: a user removed, or whose
	// password changed, loses the sessions it holds.
	cred, ok := h.opts.Guard.Htpasswd.Credential(s.user)
	if !ok || !hmac.Equal([]byte(sig), []byte(h.mac("session", body, cred))) {
		return session{}, false
	}
	return s, true
}

// startSession sets the session cookie of user.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, user string) {
	exp := time.Now().Add(h.opts.SessionTTL)
	body := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(exp.Unix(), 10) + "|" + user + "|" + randomHex(16)))
	cred, _ := h.opts.Guard.Htpasswd.Credential(user)
	h.setCookie(w, r, sessionCookie, body+"."+h.mac("session", body, cred), h.opts.SessionTTL)
	// A fresh CSRF seed, so no token from before the login is valid after.
	h.setCookie(w, r, csrfCookie, randomHex(16), 0)
}

// endSession revokes the session, on every node, and removes its cookie.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) error {
	if s, ok := h.readSession(r); ok {
		if err := h.opts.Sessions.RevokeSession(r.Context(), s.id, time.Unix(s.until, 0)); err != nil {
			return fmt.Errorf("log out: %w", err)
		}
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	return nil
}

// setCookie sets a cookie for the UI's path: HttpOnly, SameSite=Strict,
// Secure under TLS. maxAge 0 is a browser-session cookie, < 0 deletes.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: h.opts.BasePath + "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
		c.Expires = time.Now().Add(maxAge)
	}
	http.SetCookie(w, c)
}

// mac is the base64 HMAC-SHA256 of the parts under the session key, with
// a purpose first so that one kind of value never passes for another.
func (h *Handler) mac(purpose string, parts ...string) string {
	m := hmac.New(sha256.New, h.opts.SessionKey)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

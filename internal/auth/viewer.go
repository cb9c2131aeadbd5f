package auth

import (
	"crypto/sha256"
	"encoding/hex"
)

// DecisionFor is what id may do by the access policy alone, for callers
// that authenticated outside a request's Authorization header (the web
// UI's session cookie, made after CheckPassword): the same rules a request
// of id's with basic credentials would meet.
func (g *Guard) DecisionFor(id Identity) *Decision {
	if g == nil || g.Mode == ModeNone {
		return &Decision{all: true, Identity: id}
	}
	g.Init()
	return &Decision{Identity: id, policy: g.Policy}
}

// Enforced reports whether g checks anything: false for a nil guard or
// ModeNone, where every request may do everything.
func (g *Guard) Enforced() bool { return g != nil && g.Mode != ModeNone }

// PasswordLogins reports whether users log in with a name and a password
// wharf checks (htpasswd, alone or behind wharf's token server).
func (g *Guard) PasswordLogins() bool {
	return g != nil && g.Htpasswd != nil && (g.Mode == ModeBasic || g.Mode == ModeTokenServer)
}

// Credential returns a fingerprint of user's htpasswd entry, and whether
// the user exists: a value that changes with the password, so that what
// is bound to it (the web UI's sessions) ends when the password changes
// or the user goes.
func (h *Htpasswd) Credential(user string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maybeReload()
	hash, ok := h.users[user]
	if !ok {
		return "", false
	}
	sum := sha256.Sum256(hash)
	return hex.EncodeToString(sum[:8]), true
}

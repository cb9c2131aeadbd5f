package auth

import (
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// noPanic runs f, turning a panic into a test error.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Errorf("%s panicked: %v", what, v)
		}
	}()
	f()
}

// TestGuardWithoutInit: a Guard whose Init was forgotten (a zero value, or
// one built field by field) answers as an initialised one would, throttling
// included, instead of panicking.
func TestGuardWithoutInit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "pw-alice"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	key := ecKey(t)
	signer, _ := NewSigner(key, "wharf", "wharf", 5*time.Minute, time.Hour)
	verifier, _ := NewVerifier("wharf", "wharf", []crypto.PublicKey{key.Public()}, nil)

	for _, tc := range []struct {
		name       string
		guard      func() *Guard
		user, pass string
		times      int
		want       int
	}{
		{"zero value, anonymous", func() *Guard { return &Guard{} }, "", "", 1, 200},
		{"zero value, credentials", func() *Guard { return &Guard{} }, "alice", "pw-alice", 1, 200},
		{"basic, anonymous", func() *Guard { return &Guard{Mode: ModeBasic, Htpasswd: h} }, "", "", 1, 401},
		{"basic, good password", func() *Guard { return &Guard{Mode: ModeBasic, Htpasswd: h} }, "alice", "pw-alice", 1, 200},
		{"basic, wrong password", func() *Guard { return &Guard{Mode: ModeBasic, Htpasswd: h} }, "alice", "nope", 1, 401},
		{"basic, still throttled", func() *Guard { return &Guard{Mode: ModeBasic, Htpasswd: h} }, "alice", "nope", failuresPerAddrUser + 1, 429},
		{"basic without a user file", func() *Guard { return &Guard{Mode: ModeBasic} }, "alice", "pw-alice", 1, 401},
		{"token server, basic", func() *Guard {
			return &Guard{Mode: ModeTokenServer, Htpasswd: h, Signer: signer, Verifier: verifier}
		}, "alice", "pw-alice", 1, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.guard()
			got := -1
			noPanic(t, "Authorize", func() {
				for range tc.times {
					got = statusOf(firstErr(g.Authorize(req("GET", "/v2/", tc.user, tc.pass), repoScope("alice/app", "pull"), true)))
				}
			})
			if got != tc.want {
				t.Errorf("Authorize: %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("CheckPassword", func(t *testing.T) {
		for i, g := range []*Guard{{}, {Mode: ModeBasic}, {Mode: ModeBasic, Htpasswd: h}} {
			noPanic(t, fmt.Sprintf("CheckPassword on guard %d", i), func() {
				if err := g.CheckPassword(req("GET", "/v2/", "alice", "nope"), "alice", "nope"); statusOf(err) != 401 {
					t.Errorf("wrong password: %v, want 401", err)
				}
			})
		}
	})
	t.Run("WantScope", func(t *testing.T) {
		g := &Guard{Mode: ModeTokenServer, Htpasswd: h, Signer: signer, Verifier: verifier}
		noPanic(t, "WantScope", func() {
			d := &Decision{Identity: Identity{User: "alice"}, scopes: []Scope{}}
			g.WantScope(req("GET", "/v2/", "", ""), d, nil, repoScope("other/app", "pull")[0])
		})
	})
	t.Run("token endpoint", func(t *testing.T) {
		for _, user := range []string{"alice", ""} {
			g := &Guard{Mode: ModeTokenServer, Service: "wharf", Htpasswd: h, Signer: signer, Verifier: verifier}
			noPanic(t, "TokenHandler as "+user, func() {
				w := httptest.NewRecorder()
				r := req("GET", "/auth/token?service=wharf&scope=repository:alice/app:pull", user, "")
				if user != "" {
					r.SetBasicAuth(user, "pw-"+user)
				}
				(&TokenHandler{Guard: g}).ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Errorf("token for %q: %d %s", user, w.Code, w.Body)
				}
			})
		}
	})
}

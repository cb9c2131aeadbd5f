package e2e

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// thLogin is one step of TestAuthThrottleSharedAddress: times logins from
// one loopback address; the last one must answer want.
type thLogin struct {
	from, user, pass string
	times            int
	want             int
	note             string
}

// TestAuthThrottleSharedAddress is issue 10 part 2 over real HTTP, both
// sides from one address (a NAT in front of a CI farm): bob's mistyped
// secret, tried 40 times, stays throttled, while alice's password, already
// verified, and carol's, never seen before, still log in from that same
// address. A name sprayer is throttled for new credentials but cannot
// refuse verified ones. Over basic auth and at the token endpoint.
func TestAuthThrottleSharedAddress(t *testing.T) {
	const nat, other, sprayer = "127.0.0.21", "127.0.0.22", "127.0.0.23"
	steps := []thLogin{
		{from: nat, user: "alice", pass: auUsers["alice"], want: 200, note: "alice logs in"},
		{from: nat, user: "bob", pass: auWrongPass, times: 10, want: 401, note: "bob's mistyped secret"},
		{from: nat, user: "bob", pass: auWrongPass, times: 30, want: 429, note: "bob's mistyped secret, 40 in all"},
		{from: nat, user: "alice", pass: auUsers["alice"], want: 200, note: "alice again, same address"},
		{from: nat, user: "carol", pass: auUsers["carol"], want: 200, note: "carol's first login, same address"},
		{from: nat, user: "bob", pass: auUsers["bob"], want: 429, note: "bob's right password, never verified, same address"},
		{from: other, user: "bob", pass: auUsers["bob"], want: 200, note: "bob from another address"},
		{from: sprayer, user: "name-%d", pass: auWrongPass, times: 30, want: 401, note: "one guess at each of 30 names"},
		{from: sprayer, user: "name-x", pass: auWrongPass, want: 429, note: "the sprayer's next guess"},
		{from: sprayer, user: "alice", pass: auUsers["alice"], want: 200, note: "alice's verified password from the sprayer's address"},
	}
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			var s *Server
			if mode == "basic" {
				s, _ = auBasicServer(t, auPolicy)
			} else {
				s, _ = auTokenServer(t, auPolicy)
			}
			for _, st := range steps {
				thRun(t, s, mode, st)
			}
			auCheckLog(t, s)
		})
	}
}

// thRun sends st's logins (GET /v2/ with basic auth, or a token request)
// and checks the last answer.
func thRun(t *testing.T, s *Server, mode string, st thLogin) {
	t.Helper()
	target := s.URL + "/v2/"
	if mode == "token" {
		target = s.URL + "/auth/token?" + url.Values{"service": {"wharf"}, "scope": {"repository:team/app:pull"}}.Encode()
	}
	c := auClientFrom(st.from)
	var r whResp
	for i := range max(st.times, 1) {
		user := st.user
		if strings.Contains(user, "%d") {
			user = fmt.Sprintf(user, i+1)
		}
		r = auDo(t, auReq{Method: "GET", URL: target, User: user, Pass: st.pass, Client: c})
	}
	if r.Status != st.want {
		t.Errorf("%s: %s from %s: %s, want %d", st.note, st.user, st.from, r, st.want)
		return
	}
	if r.Status == 429 {
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("%s: Retry-After %q, want 1..60 seconds", st.note, r.Header.Get("Retry-After"))
		}
	}
}

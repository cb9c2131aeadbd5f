package auth

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// guardClock makes the guard's throttles and its htpasswd reload check
// follow c, so a scenario never depends on how long bcrypt takes.
func guardClock(g *Guard, c *fakeClock) {
	for _, th := range []*Throttle{g.pairThrottle, g.addrThrottle, g.userThrottle} {
		th.now = c.now
	}
	g.Htpasswd.now = c.now
}

// login is one basic-auth attempt at GET /v2/ from addr.
type login struct {
	addr, user, pass string
	times            int // 0: once
	want             int // status of the last attempt: 200, 401 or 429
	note             string
}

func (l login) run(t *testing.T, g *Guard) {
	t.Helper()
	n := max(l.times, 1)
	var got int
	for i := range n {
		r := req("GET", "/v2/", fill(l.user, i), l.pass)
		r.RemoteAddr = fill(l.addr, i) + ":4321"
		got = statusOf(firstErr(g.Authorize(r, nil, true)))
	}
	if got != l.want {
		t.Errorf("%s: %s as %s (%d times): %d, want %d", l.note, l.addr, l.user, n, got, l.want)
	}
}

func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if d, ok := AsDenied(err); ok {
		return d.Status
	}
	return -1
}

// TestGuardOthersFailuresDoNotLockOut is issue 10 part 2 from one address:
// someone else's wrong passwords (a mistyped CI secret behind a shared
// NAT, or an attacker who knows a user name) must not refuse credentials
// that were already verified, while guessing stays throttled.
func TestGuardOthersFailuresDoNotLockOut(t *testing.T) {
	const nat, other = "192.0.2.10", "192.0.2.77"
	for _, tc := range []struct {
		name  string
		steps []login
	}{
		{"bob's 40 failures, alice logged in before", []login{
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice's first login"},
			{addr: nat, user: "bob", pass: "wrong", times: failuresPerAddrUser, want: 401, note: "bob's failures below the limit"},
			{addr: nat, user: "bob", pass: "wrong", times: 40 - failuresPerAddrUser, want: 429, note: "bob's brute force"},
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice again from the same address"},
			{addr: nat, user: "bob", pass: "wrong-again", want: 429, note: "bob still throttled"},
		}},
		{"bob's 40 failures, alice never logged in", []login{
			{addr: nat, user: "bob", pass: "wrong", times: 40, want: 429, note: "bob's brute force"},
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice's first login from the address bob hammers"},
			{addr: nat, user: "carol", pass: "pw-carol", want: 200, note: "carol's first login from there too"},
		}},
		{"bob's own good password after his brute force", []login{
			{addr: nat, user: "bob", pass: "pw-bob", want: 200, note: "bob's CI, verified"},
			{addr: nat, user: "bob", pass: "typo", times: 40, want: 429, note: "a mistyped copy of bob's secret"},
			{addr: nat, user: "bob", pass: "pw-bob", want: 200, note: "bob's verified secret still works"},
		}},
		{"a never-verified password of a throttled pair waits", []login{
			{addr: nat, user: "bob", pass: "typo", times: 40, want: 429, note: "bob's brute force"},
			{addr: nat, user: "bob", pass: "pw-bob", want: 429, note: "a guess that happens to be right is not checked"},
			{addr: other, user: "bob", pass: "pw-bob", want: 200, note: "bob from another address"},
		}},
		{"a wrong password for a verified user still counts", []login{
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice verified"},
			{addr: nat, user: "alice", pass: "guess", times: failuresPerAddrUser, want: 401, note: "guesses at alice"},
			{addr: nat, user: "alice", pass: "guess-2", want: 429, note: "more guesses at alice"},
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice's verified password"},
		}},
		{"spraying names from one address", []login{
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice verified"},
			{addr: nat, user: "user-%d", pass: "guess", times: failuresPerAddr, want: 401, note: "one guess at each of many names"},
			{addr: nat, user: "dave", pass: "guess", want: 429, note: "the address is throttled"},
			{addr: nat, user: "carol", pass: "pw-carol", want: 429, note: "carol's unverified password from that address"},
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice's verified password"},
			{addr: other, user: "carol", pass: "pw-carol", want: 200, note: "carol from another address"},
		}},
		{"guesses at one name from many addresses", []login{
			{addr: nat, user: "alice", pass: "pw-alice", want: 200, note: "alice verified"},
			{addr: "198.51.100.%d", user: "alice", pass: "guess", times: failuresPerUser, want: 401, note: "distributed guesses"},
			{addr: "203.0.113.5", user: "alice", pass: "guess", want: 429, note: "the name is throttled"},
			{addr: "203.0.113.5", user: "alice", pass: "pw-alice", want: 200, note: "alice's verified password, from anywhere"},
			{addr: "203.0.113.5", user: "carol", pass: "pw-carol", want: 200, note: "other names are not throttled"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGuard(t, ModeBasic)
			guardClock(g, newFakeClock())
			for _, s := range tc.steps {
				s.run(t, g)
			}
		})
	}
}

// fill puts the attempt's number into a %d of an address or a name, so
// one step can come from many addresses or try many names.
func fill(s string, i int) string {
	if !strings.Contains(s, "%d") {
		return s
	}
	return fmt.Sprintf(s, i+1)
}

// TestGuardChangedEntryNotTrusted: a verified password stops bypassing
// the throttle as soon as its htpasswd entry changes.
func TestGuardChangedEntryNotTrusted(t *testing.T) {
	g := testGuard(t, ModeBasic)
	c := newFakeClock()
	guardClock(g, c)
	const addr = "192.0.2.10"
	(login{addr: addr, user: "alice", pass: "pw-alice", want: 200, note: "alice verified"}).run(t, g)
	(login{addr: addr, user: "alice", pass: "guess", times: failuresPerAddrUser, want: 401, note: "guesses"}).run(t, g)
	(login{addr: addr, user: "alice", pass: "pw-alice", want: 200, note: "verified, throttled pair"}).run(t, g)

	time.Sleep(10 * time.Millisecond) // a new modification time
	writeHtpasswd(t, g.Htpasswd.path, bcryptLine(t, "alice", "pw-alice"), bcryptLine(t, "bob", "pw-bob"))
	c.add(reloadCheck)
	(login{addr: addr, user: "alice", pass: "pw-alice", want: 429, note: "same password, re-hashed entry"}).run(t, g)
	(login{addr: "192.0.2.11", user: "alice", pass: "pw-alice", want: 200, note: "from an address that is not throttled"}).run(t, g)
	(login{addr: addr, user: "alice", pass: "pw-alice", want: 200, note: "verified again"}).run(t, g)
}

// TestHtpasswdVerifiedCache: Verified answers from the cache alone, for
// as long as verifiedTTL, and an unrelated change to the file keeps it.
func TestHtpasswdVerifiedCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "pw-a"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.now = c.now
	if ok, _ := h.Verified("alice", "pw-a"); ok {
		t.Fatal("verified before any bcrypt check")
	}
	if ok, _ := h.Verify("alice", "pw-a"); !ok {
		t.Fatal("right password refused")
	}
	c.add(failureWindow + time.Second)
	if ok, _ := h.Verified("alice", "pw-a"); !ok {
		t.Error("forgotten before a throttle window passed")
	}
	if ok, _ := h.Verified("alice", "pw-b"); ok {
		t.Error("another password verified")
	}
	time.Sleep(10 * time.Millisecond)
	writeHtpasswd(t, p, "# bob added\n"+bcryptLine(t, "bob", "pw-b"), "alice:"+string(h.users["alice"]))
	c.add(reloadCheck)
	if ok, _ := h.Verified("alice", "pw-a"); !ok {
		t.Error("adding another user dropped alice's verified password")
	}
	c.add(verifiedTTL)
	if ok, _ := h.Verified("alice", "pw-a"); ok {
		t.Error("still verified after verifiedTTL")
	}
}

package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcryptLine is an htpasswd entry at the minimum cost, to keep tests fast.
func bcryptLine(t testing.TB, user, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(h)
}

func TestParseHtpasswd(t *testing.T) {
	alice := bcryptLine(t, "alice", "pw-a")
	bob := bcryptLine(t, "bob", "pw-b")
	// $2y$ is what apache's htpasswd -B writes.
	apacheY := "carol:" + strings.Replace(strings.SplitN(bcryptLine(t, "x", "pw-c"), ":", 2)[1], "$2a$", "$2y$", 1)
	for _, tc := range []struct {
		name    string
		content string
		users   []string
		errLine string // non-empty: an error naming this
	}{
		{"empty", "", nil, ""},
		{"bcrypt entries", alice + "\n" + bob + "\n", []string{"alice", "bob"}, ""},
		{"no final newline", alice + "\n" + bob, []string{"alice", "bob"}, ""},
		{"comments and blank lines", "# users\n\n" + alice + "\n   \n# end\n", []string{"alice"}, ""},
		{"CRLF", alice + "\r\n" + bob + "\r\n", []string{"alice", "bob"}, ""},
		{"$2y$ from htpasswd -B", apacheY + "\n", []string{"carol"}, ""},
		{"SHA1", alice + "\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", nil, "line 2"},
		{"apr1 MD5", "# c\n" + alice + "\n" + "bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", nil, "line 3"},
		{"crypt", "bob:rl6QGtjH4MGNU\n", nil, "line 1"},
		{"plain text", alice + "\n\nbob:secret\n", nil, "line 3"},
		{"sha512 crypt", "bob:$6$salt$abcdefghijklmnopqrstuv\n", nil, "line 1"},
		{"no colon", "alice\n", nil, "line 1"},
		{"empty user", ":" + strings.SplitN(alice, ":", 2)[1] + "\n", nil, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseHtpasswd([]byte(tc.content))
			if tc.errLine != "" {
				if err == nil {
					t.Fatalf("no error, want one naming %s", tc.errLine)
				}
				if !strings.Contains(err.Error(), tc.errLine) {
					t.Errorf("error %q does not name %s", err, tc.errLine)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if len(users) != len(tc.users) {
				t.Errorf("%d users, want %v", len(users), tc.users)
			}
			for _, u := range tc.users {
				if _, ok := users[u]; !ok {
					t.Errorf("user %q missing", u)
				}
			}
		})
	}
}

func writeHtpasswd(t testing.TB, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadHtpasswdErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadHtpasswd(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing file: no error")
	}
	p := filepath.Join(dir, "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "a"), "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")
	_, err := LoadHtpasswd(p)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), p) {
		t.Errorf("non-bcrypt entry: error %v, want one naming %s and line 2", err, p)
	}
}

func TestHtpasswdVerify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "correct horse"), bcryptLine(t, "bob", "pw-b"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pass string
		want       bool
	}{
		{"alice", "correct horse", true},
		{"bob", "pw-b", true},
		{"alice", "pw-b", false},
		{"alice", "", false},
		{"alice", "correct horse ", false},
		{"Alice", "correct horse", false},
		{"nobody", "correct horse", false},
		{"", "", false},
	} {
		ok, err := h.Verify(tc.user, tc.pass)
		if err != nil {
			t.Errorf("Verify(%q): reload error %v", tc.user, err)
		}
		if ok != tc.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", tc.user, tc.pass, ok, tc.want)
		}
	}
	if !h.Exists("alice") || h.Exists("nobody") {
		t.Errorf("Exists: alice must exist, nobody not")
	}
	// An unknown user must cost a full bcrypt comparison, like a wrong
	// password: the hash it is checked against has the default cost.
	if cost, err := bcrypt.Cost(h.dummy); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("unknown users are checked against a hash of cost %d (%v), want %d", cost, err, bcrypt.DefaultCost)
	}
}

func TestHtpasswdCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "pw-a"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.now = c.now
	if ok, _ := h.Verify("alice", "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if len(h.cache) != 0 {
		t.Fatalf("a failure was cached: %d entries", len(h.cache))
	}
	if ok, _ := h.Verify("alice", "pw-a"); !ok {
		t.Fatal("right password refused")
	}
	if len(h.cache) != 1 {
		t.Fatalf("success not cached: %d entries", len(h.cache))
	}
	// The cache holds no password: its key is a hash bound to user, password
	// and the stored entry.
	for k := range h.cache {
		if strings.Contains(string(k[:]), "pw-a") {
			t.Errorf("cache key holds the password")
		}
		if k != cacheKey("alice", "pw-a", h.users["alice"]) {
			t.Errorf("unexpected cache key")
		}
	}
	stored := h.users["alice"]
	key := cacheKey("alice", "pw-a", stored)
	if ok, _ := h.Verify("alice", "pw-a"); !ok {
		t.Fatal("cached success refused")
	}
	// Other passwords are not accepted because one was cached.
	if ok, _ := h.Verify("alice", "pw-a2"); ok {
		t.Error("a different password accepted after a cached success")
	}
	// Entries expire.
	c.add(verifiedTTL + time.Second)
	if _, ok := h.cache[key]; !ok {
		t.Fatal("entry vanished before the test could expire it")
	}
	// Expired entry: Verify falls back to bcrypt (still right) and renews it.
	if ok, _ := h.Verify("alice", "pw-a"); !ok {
		t.Fatal("right password refused after cache expiry")
	}
	if exp := h.cache[key]; !exp.After(c.now()) {
		t.Errorf("cache entry not renewed: expires %v, now %v", exp, c.now())
	}
	// Keys are bound to the user: the same password for another user misses.
	if cacheKey("alice", "pw-a", stored) == cacheKey("bob", "pw-a", stored) {
		t.Error("cache key ignores the user")
	}
	// Length-prefixed: moving bytes between user and password changes the key.
	if cacheKey("ab", "c", stored) == cacheKey("a", "bc", stored) {
		t.Error("cache key is ambiguous between user and password")
	}
}

func TestHtpasswdCacheBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "pw-a"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cacheMax + 10 {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		h.remember(k)
		if len(h.cache) > cacheMax {
			t.Fatalf("cache grew to %d entries, max %d", len(h.cache), cacheMax)
		}
	}
}

func TestHtpasswdReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "old"), bcryptLine(t, "bob", "pw-b"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.now = c.now
	if ok, _ := h.Verify("alice", "old"); !ok {
		t.Fatal("old password refused before the change")
	}
	// Change alice's password (an entry of the same length: only the
	// modification time tells the files apart) and remove bob.
	time.Sleep(10 * time.Millisecond)
	writeHtpasswd(t, p, bcryptLine(t, "alice", "new"))
	c.add(reloadCheck)
	if ok, err := h.Verify("alice", "old"); ok || err != nil {
		t.Errorf("old password after reload: ok=%v err=%v, want refused", ok, err)
	}
	if ok, _ := h.Verify("alice", "new"); !ok {
		t.Errorf("new password refused after reload")
	}
	if h.Exists("bob") {
		t.Errorf("removed user still exists")
	}

	// A broken file keeps the last good users and reports why.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(p, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.add(reloadCheck)
	ok, err := h.Verify("alice", "new")
	if !ok {
		t.Errorf("invalid file: last good users lost")
	}
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("invalid file: reload error %v, want one naming line 1", err)
	}
	// A missing file likewise.
	os.Remove(p)
	c.add(reloadCheck)
	if ok, err := h.Verify("alice", "new"); !ok || err == nil {
		t.Errorf("missing file: ok=%v err=%v, want last good users and an error", ok, err)
	}
	// The file comes back fixed.
	writeHtpasswd(t, p, bcryptLine(t, "carol", "pw-c"))
	c.add(reloadCheck)
	if ok, err := h.Verify("carol", "pw-c"); !ok || err != nil {
		t.Errorf("fixed file: carol ok=%v err=%v", ok, err)
	}
	if ok, _ := h.Verify("alice", "new"); ok {
		t.Errorf("fixed file: alice, no longer listed, still accepted")
	}
}

// TestHtpasswdReloadDropsCache: a changed password is not kept alive by
// the cache of verified passwords.
func TestHtpasswdReloadDropsCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "old"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.now = c.now
	if ok, _ := h.Verify("alice", "old"); !ok {
		t.Fatal("refused")
	}
	time.Sleep(10 * time.Millisecond)
	writeHtpasswd(t, p, bcryptLine(t, "alice", "new"))
	c.add(reloadCheck)
	if ok, _ := h.Verify("alice", "old"); ok {
		t.Error("old password accepted from the cache after the file changed")
	}
}

func TestHtpasswdReloadCheckedAtMostEverySecond(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, p, bcryptLine(t, "alice", "old"))
	h, err := LoadHtpasswd(p)
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	h.now = c.now
	h.Verify("alice", "old") // sets the check time
	time.Sleep(10 * time.Millisecond)
	writeHtpasswd(t, p, bcryptLine(t, "alice", "new"))
	c.add(reloadCheck / 2)
	if ok, _ := h.Verify("alice", "new"); ok {
		t.Error("file re-read before reloadCheck passed")
	}
	c.add(reloadCheck / 2)
	if ok, _ := h.Verify("alice", "new"); !ok {
		t.Error("file not re-read after reloadCheck")
	}
}

package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	// reloadCheck is how often the file's modification time is looked at.
	reloadCheck = time.Second
	// verifiedTTL bounds how long a verified password is trusted without
	// bcrypt and past the login throttles. A changed or removed entry
	// ends the trust at once (the key binds the stored hash), so the
	// bound is about age alone: a day spans nightly builds whose address
	// someone else's failures throttle.
	verifiedTTL = 24 * time.Hour
	// cacheMax bounds the cache's memory. Only verified credentials enter
	// it, so a client cannot flood it without knowing many passwords.
	cacheMax = 10000
)

// Htpasswd verifies users against an htpasswd file of bcrypt entries,
// re-reading it when it changes.
type Htpasswd struct {
	path string
	// dummy is compared against for unknown users, so "no such user"
	// costs the same bcrypt time as "wrong password". It is made here,
	// not at package init, where it cost every wharf command, `wharf
	// version` included, most of its 0.18 s.
	dummy []byte

	mu      sync.Mutex
	users   map[string][]byte
	modTime time.Time
	size    int64
	checked time.Time
	cache   map[[32]byte]time.Time
	now     func() time.Time
}

// LoadHtpasswd reads path; any entry that is not bcrypt is an error naming
// its line.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("wharf-dummy-password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: making the hash unknown users are checked against: %w", err)
	}
	h := &Htpasswd{path: path, dummy: dummy, cache: map[[32]byte]time.Time{}, now: time.Now}
	if err := h.reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// ParseHtpasswd parses htpasswd content: user:bcrypt-hash per line, blank
// lines and # comments ignored.
func ParseHtpasswd(data []byte) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d: not user:hash", n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d (user %q): only bcrypt entries are supported (htpasswd -B, or wharf htpasswd): %v", n, user, err)
		}
		users[user] = []byte(hash)
	}
	return users, sc.Err()
}

func (h *Htpasswd) reload() error {
	fi, err := os.Stat(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	data, err := os.ReadFile(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	users, err := ParseHtpasswd(data)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	// The cache survives: entries of changed or removed users no longer
	// match (their keys bind the old hash), and adding a user must not
	// send everyone else back through the throttles.
	h.users, h.modTime, h.size = users, fi.ModTime(), fi.Size()
	return nil
}

// maybeReload re-reads the file when its size or time changed. A file that
// became unreadable or invalid keeps the last good users, and says why.
func (h *Htpasswd) maybeReload() error {
	now := h.now()
	if now.Sub(h.checked) < reloadCheck {
		return nil
	}
	h.checked = now
	fi, err := os.Stat(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd %s: %w", h.path, err)
	}
	if fi.ModTime().Equal(h.modTime) && fi.Size() == h.size {
		return nil
	}
	return h.reload()
}

// Verify reports whether user and password match an entry, in time that
// does not depend on whether the user exists. The reload error, if any, is
// for logging; verification goes on with the last good file.
func (h *Htpasswd) Verify(user, password string) (bool, error) {
	verified, hash, known, reloadErr := h.lookup(user, password)
	if verified {
		return true, reloadErr
	}
	if !known {
		bcrypt.CompareHashAndPassword(h.dummy, []byte(password))
		return false, reloadErr
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false, reloadErr
	}
	h.remember(cacheKey(user, password, hash))
	return true, reloadErr
}

// Verified reports whether user and password were verified by bcrypt
// within verifiedTTL against the entry the file holds now. It costs a
// hash, not bcrypt, so it may run before any throttle. The reload error,
// if any, is for logging.
func (h *Htpasswd) Verified(user, password string) (bool, error) {
	verified, _, _, reloadErr := h.lookup(user, password)
	return verified, reloadErr
}

// lookup finds user's entry and whether password is cached as verified
// against it.
func (h *Htpasswd) lookup(user, password string) (verified bool, hash []byte, known bool, reloadErr error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reloadErr = h.maybeReload()
	hash, known = h.users[user]
	if !known {
		return false, nil, false, reloadErr
	}
	exp, ok := h.cache[cacheKey(user, password, hash)]
	return ok && h.now().Before(exp), hash, true, reloadErr
}

// Exists reports whether user has an entry (for refresh tokens: a removed
// user's tokens stop working).
func (h *Htpasswd) Exists(user string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maybeReload()
	_, ok := h.users[user]
	return ok
}

func (h *Htpasswd) remember(key [32]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.cache[key]; !ok && len(h.cache) >= cacheMax {
		h.evict()
	}
	h.cache[key] = h.now().Add(verifiedTTL)
}

// evict drops expired entries, or else the one verified longest ago, so a
// full cache forgets the stalest credential rather than every one.
func (h *Htpasswd) evict() {
	now := h.now()
	var oldest [32]byte
	var oldestExp time.Time
	for k, exp := range h.cache {
		if !now.Before(exp) {
			delete(h.cache, k)
			continue
		}
		if oldestExp.IsZero() || exp.Before(oldestExp) {
			oldest, oldestExp = k, exp
		}
	}
	if len(h.cache) >= cacheMax {
		delete(h.cache, oldest)
	}
}

// cacheKey binds user, password and the stored hash: a changed entry
// invalidates its cached successes, and the cache never holds a password.
func cacheKey(user, password string, hash []byte) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(user), []byte(password), hash} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

package metatest

import (
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/meta"
)

// testSessions checks that a revoked session stays revoked, others are
// not, revoking twice is harmless, and revocations past their session's
// expiry are dropped.
func testSessions(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if err := s.RevokeSession(ctx, "old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.RevokeSession(ctx, "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]bool{"a": true, "b": false, "old": false} {
		if got, err := s.SessionRevoked(ctx, id); err != nil || got != want {
			t.Errorf("SessionRevoked(%q) = %t, %v; want %t", id, got, err, want)
		}
	}
}
